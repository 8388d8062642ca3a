"""Which extractor the settings give: heuristics offline, the LLM when a model server is set."""

from __future__ import annotations

from pathlib import Path

from rag.config import Settings
from rag.extract.factory import open_extractor
from rag.extract.heuristic import HeuristicExtractor
from rag.extract.llm import LLMExtractor


def test_auto_uses_heuristics_offline_and_the_llm_with_a_model_server(tmp_path: Path) -> None:
    assert isinstance(open_extractor(Settings(data_dir=tmp_path)), HeuristicExtractor)
    served = Settings(data_dir=tmp_path, llm_url="http://127.0.0.1:9/v1", llm_model="m")
    assert isinstance(open_extractor(served), LLMExtractor)
    forced = Settings(data_dir=tmp_path, llm_url="http://127.0.0.1:9/v1", extractor="heuristic")
    assert isinstance(open_extractor(forced), HeuristicExtractor)
    assert open_extractor(Settings(data_dir=tmp_path, extractor="none")) is None
