"""`rag models bench --prompts FILE`: how the prompts file is read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.serving.bench import PromptFileError, read_prompts

pytestmark = pytest.mark.fast


def test_json_prompts_with_line_separators_inside_their_strings(tmp_path: Path) -> None:
    messages = [{"role": "user", "content": "first\u2028second"}]
    path = tmp_path / "prompts.jsonl"
    path.write_text(
        json.dumps({"prompt": "Context: a\u0085b.\u2029Question: c?"}, ensure_ascii=False)
        + "\r\n\n"
        + json.dumps({"messages": messages}, ensure_ascii=False)
        + "\nplain prompt\n",
        encoding="utf-8",
    )
    prompts = read_prompts(path)
    assert len(prompts) == 3
    assert prompts[0][-1] == {"role": "user", "content": "Context: a\u0085b.\u2029Question: c?"}
    assert prompts[1] == messages
    assert prompts[2][-1]["content"] == "plain prompt"


def test_a_bad_json_line_is_named_by_its_line_number(tmp_path: Path) -> None:
    path = tmp_path / "prompts.jsonl"
    path.write_text('{"prompt": "ok\u0085"}\n\n{"nope": 1}\n', encoding="utf-8")
    with pytest.raises(PromptFileError, match=r"prompts\.jsonl:3: a JSON line needs"):
        read_prompts(path)
