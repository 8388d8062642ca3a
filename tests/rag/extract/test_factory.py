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


def test_concurrency_is_the_setting_with_a_server_and_one_in_process(tmp_path: Path) -> None:
    served = Settings(
        data_dir=tmp_path, llm_url="http://127.0.0.1:9/v1", llm_model="m", extract_concurrency=7
    )
    extractor = open_extractor(served)
    assert isinstance(extractor, LLMExtractor) and extractor.concurrency == 7
    in_process = open_extractor(Settings(data_dir=tmp_path, extractor="llm", extract_concurrency=7))
    assert isinstance(in_process, LLMExtractor) and in_process.concurrency == 1  # it answers one at a time
    default = open_extractor(Settings(data_dir=tmp_path, llm_url="http://127.0.0.1:9/v1"))
    assert isinstance(default, LLMExtractor) and default.concurrency == 4
