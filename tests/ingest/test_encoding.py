"""Encoding detection and decoding: markers, strict UTF-8, GBK without a marker, streaming."""

from __future__ import annotations

import io
import json
import random

import pytest

from ingest.loaders.base import LoaderError
from ingest.loaders.encoding import SNIFF_BYTES, decode, detect_encoding, iter_decode
from tests.builders import DATASETS

pytestmark = pytest.mark.fast

CHINESE = "深圳办公室位于南山区科技园，负责人是陈伟。腾讯公司总部也在深圳。"


def streamed(data: bytes, block_size: int) -> str:
    return "".join(iter_decode(io.BytesIO(data), block_size))


def test_utf8_without_marker_is_decoded() -> None:
    text = "naïve café — " + CHINESE
    assert detect_encoding(text.encode()) == "utf-8"
    assert decode(text.encode()) == text


def test_utf8_bom_is_removed() -> None:
    data = b"\xef\xbb\xbf" + "Grüße".encode()
    assert detect_encoding(data) == "utf-8-sig"
    assert decode(data) == "Grüße"


def test_utf16_with_bom_is_decoded() -> None:
    assert decode("Hello 你好".encode("utf-16")) == "Hello 你好"


@pytest.mark.parametrize("text", ["陈伟说：你好。", "负责人", CHINESE, "Report 2024: " + CHINESE * 500])
def test_gbk_without_marker_reads_as_gb18030(text: str) -> None:
    data = text.encode("gbk")
    assert detect_encoding(data) == "gb18030"
    assert decode(data) == text


def test_gb18030_four_byte_characters_survive() -> None:
    text = CHINESE + "𠀀€"  # outside GBK: four-byte GB18030 sequences, and the euro sign
    assert decode(text.encode("gb18030")) == text


def test_big5_is_not_forced_into_gb18030() -> None:
    text = "這是一個測試文件，用於檢查編碼檢測是否正確。我們使用繁體中文。"
    assert decode(text.encode("big5")) == text


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Café crème brûlée — naïve façade, “quoted” text.", "cp1252"),
        ("Привет, как дела? Это тестовый файл на русском языке.", "cp1251"),
    ],
)
def test_single_byte_encodings_are_detected(text: str, encoding: str) -> None:
    assert decode(text.encode(encoding)) == text


def test_detection_looks_past_an_ascii_prefix() -> None:
    data = b"id,name\n" * (SNIFF_BYTES // 4) + CHINESE.encode("gbk")
    assert decode(data).endswith(CHINESE)


def test_random_bytes_cannot_be_decoded() -> None:
    noise = random.Random(7).randbytes(4000)
    with pytest.raises(LoaderError, match="cannot detect the text encoding"):
        detect_encoding(noise)


def test_stream_joins_characters_split_across_reads() -> None:
    text = (CHINESE + "\n") * 3000  # ~190 KB of GBK: detection on the head, then odd-sized reads
    assert streamed(text.encode("gbk"), block_size=1001) == text
    assert streamed(text.encode("utf-8"), block_size=1001) == text


def test_stream_detects_encoding_after_ascii_megabytes() -> None:
    ascii_part = "2024-01-01 INFO started\n" * 50_000  # 1.2 MB of ASCII before any Chinese
    text = ascii_part + CHINESE + "\n"
    pieces = list(iter_decode(io.BytesIO(text.encode("gbk")), block_size=1 << 16))
    assert len(pieces) > 10
    assert "".join(pieces) == text


def test_stream_of_utf8_bom_drops_the_bom() -> None:
    assert streamed(b"\xef\xbb\xbf" + "abc 你好".encode(), block_size=4) == "abc 你好"


def test_stream_replaces_a_stray_bad_byte_instead_of_failing() -> None:
    data = ("é" * 40_000).encode() + b"\xff" + b"tail"
    assert streamed(data, block_size=1 << 16) == "é" * 40_000 + "\ufffd" + "tail"


@pytest.mark.parametrize("byte", range(0x80, 0x100))
def test_one_repeated_non_ascii_byte_is_not_text(byte: int) -> None:
    # 0xD6 * 5000 read as GB18030 is "种种种…": a clean run of one character in dozens of codecs
    with pytest.raises(LoaderError, match="binary content: a pattern of 1 byte"):
        detect_encoding(bytes([byte]) * 5000)


@pytest.mark.parametrize("pattern", [b"\xd6\xd0", b"\x8e\xf3\xa7", bytes(range(0xC0, 0xE0))])
def test_a_short_repeated_byte_pattern_is_not_text(pattern: bytes) -> None:
    with pytest.raises(LoaderError, match=f"a pattern of {len(pattern)} byte"):
        decode(pattern * (6000 // len(pattern)))


def test_one_character_over_half_the_text_is_not_text() -> None:
    rng = random.Random(3)
    # not periodic: mostly one GBK character, with a few others at random places
    text = "".join(rng.choice("种" * 60 + CHINESE) for _ in range(3000))
    with pytest.raises(LoaderError, match="one character is over half the text"):
        detect_encoding(text.encode("gbk"))


def test_control_and_undefined_characters_are_not_text() -> None:
    rng = random.Random(0)
    data = bytes(rng.choice([0x7C, 0x9C, 0xBA, 0xDC]) for _ in range(3000))
    with pytest.raises(LoaderError, match="% control or undefined characters"):
        detect_encoding(data)


def test_chinese_with_latin_diacritics_is_read_although_the_detector_drops_it_at_first() -> None:
    # charset-normalizer alone returns no match for this (an early chunk's Latin scores as mess)
    text = "陈如（巴利文：Añña Kondañña，梵文：Ajñāta Kauṇḍinya）是佛教五比丘之一，居于鹿野苑。"
    assert decode(text.encode("gb18030")) == text


CMRC = DATASETS / "cmrc2018_trial" / "data_cmrc2018_trial.json"


@pytest.mark.skipif(not CMRC.exists(), reason=f"needs the CMRC 2018 trial set at {CMRC}")
def test_every_cmrc_context_in_gbk_and_gb18030_is_read_back_exactly() -> None:
    contexts = [item["context_text"] for item in json.loads(CMRC.read_text(encoding="utf-8"))]
    read = 0
    for text in contexts:
        for encoding in ("gb18030", "gbk", "utf-8"):
            try:
                data = text.encode(encoding)
            except UnicodeEncodeError:  # a character GBK lacks
                continue
            assert decode(data) == text, (encoding, text[:40])
            read += 1
    assert read > 2.8 * len(contexts)  # nearly all of them encode in GBK too
