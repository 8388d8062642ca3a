"""Encoding detection and decoding: markers, strict UTF-8, GBK without a marker, streaming."""

from __future__ import annotations

import io
import random

import pytest

from ingest.loaders.base import LoaderError
from ingest.loaders.encoding import SNIFF_BYTES, decode, detect_encoding, iter_decode

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
