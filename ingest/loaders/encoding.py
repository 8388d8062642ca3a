"""Text encoding detection and decoding, whole or streamed.

Order of evidence, cheapest and most certain first: a byte-order mark, then strict UTF-8
(almost never wrong when it succeeds), then charset-normalizer. Its guesses on short Chinese
text without a marker swing between GBK, Big5 and CP949, so whenever GB18030 (a superset of
GB2312 and GBK, what Chinese Windows writes) is among the plausible CJK candidates it wins;
likewise CP1252 wins a tie among single-byte guesses.

A guess is then judged as text: charset-normalizer's own measures (it returns no match when
every codec reads the bytes as a mess) cannot tell binary from text when the bytes are regular,
since one byte repeated reads as a clean run of one character in dozens of codecs (0xD6 as
"种种种…" in GB18030). So a sample that repeats one short block of bytes throughout, or that
decodes to one character over half the text or to more than a few control, private-use or
unassigned characters, is refused as not text.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from typing import BinaryIO

from charset_normalizer import from_bytes

from ingest.loaders.base import LoaderError

#: How many bytes the detector looks at; more rarely changes the verdict and costs time.
SNIFF_BYTES = 64 * 1024

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_CHINESE = {"gb2312", "gbk", "gb18030", "hz"}
_CJK_MULTIBYTE = _CHINESE | {
    "big5",
    "big5hkscs",
    "cp950",
    "cp949",
    "euc_kr",
    "johab",
    "cp932",
    "shift_jis",
    "shift_jis_2004",
    "shift_jisx0213",
    "euc_jp",
    "euc_jis_2004",
    "euc_jisx0213",
    "iso2022_jp",
    "iso2022_kr",
}
#: UTF-16/32 without a byte-order mark: guessed for short pure-CJK samples, never actually met
#: (Windows writes the mark; a marker-less file's NUL bytes make the registry refuse it anyway).
_NO_MARKER_NEVER = ["utf_16", "utf_16_be", "utf_16_le", "utf_32", "utf_32_be", "utf_32_le"]
#: The second look, when the first found nothing: the multi-byte CJK codecs (strict, so random bytes
#: still fail them), with charset-normalizer's mess threshold raised from 0.2. Chinese prose full of
#: Latin names and diacritics scores up to 0.41 (CMRC 2018: 9 of 256 contexts fail the first look).
_CJK_RETRY = ["gb18030", "big5", "cp949", "shift_jis", "euc_jp"]
_CJK_RETRY_CHAOS = 0.5
_NON_ASCII = re.compile(rb"[\x80-\xff]")
#: Below this many visible characters a sample is too short to call one character's repetition binary.
_MIN_VISIBLE = 32
#: A sample of this many bytes or more that repeats a block of at most _MAX_PERIOD bytes is a pattern.
_MIN_PERIODIC = 256
_MAX_PERIOD = 32
#: Unicode categories that text does not hold in bulk: controls, private use, unassigned, surrogates.
_NOT_TEXT = frozenset({"Cc", "Co", "Cn", "Cs"})
_TEXT_CONTROLS = frozenset("\t\n\r\f\x1b")
_ASCII_SPACE = frozenset(" \t\n\r\f\v")
#: Share of such characters (and U+FFFD for undecodable bytes) above which a sample is not text.
_MAX_NOT_TEXT_SHARE = 0.05


def bom_encoding(head: bytes) -> str | None:
    """The codec a byte-order mark at the start of `head` names, if any."""
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    return None


def detect_encoding(sample: bytes) -> str:
    """The Python codec name for `sample`, which may be the truncated start of a longer file."""
    if encoding := bom_encoding(sample):
        return encoding
    try:
        # final=False: a multi-byte character cut at the end of the sample is not an error
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8"
    matches = from_bytes(sample[:SNIFF_BYTES], cp_exclusion=_NO_MARKER_NEVER)
    if not matches:
        # one messy early chunk (a run of Latin names in Chinese text) makes the detector drop
        # an encoding that reads the whole sample cleanly: judge the CJK codecs on the whole
        matches = from_bytes(sample[:SNIFF_BYTES], cp_isolation=_CJK_RETRY, threshold=_CJK_RETRY_CHAOS)
    best = matches.best()
    if best is None:
        raise LoaderError("cannot detect the text encoding (binary content?); save the file as UTF-8")
    candidates = {match.encoding for match in matches}
    if best.encoding in _CJK_MULTIBYTE and candidates & _CHINESE:
        encoding = "gb18030"
    else:
        # among equally good single-byte guesses, Western European is by far the most common
        tied = {m.encoding for m in matches if (m.chaos, m.coherence) == (best.chaos, best.coherence)}
        encoding = "cp1252" if "cp1252" in tied else best.encoding
    _check_plausible(sample[:SNIFF_BYTES], encoding)
    return encoding


def _check_plausible(sample: bytes, encoding: str) -> None:
    """Refuse a sample that no reader would call text (see the module docstring)."""
    if len(sample) >= _MIN_PERIODIC and (
        period := next((p for p in range(1, _MAX_PERIOD + 1) if sample[p:] == sample[:-p]), None)
    ):
        raise LoaderError(
            f"binary content: a pattern of {period} byte(s) repeated throughout (not text); check the file"
        )
    text = sample.decode(encoding, errors="replace")
    visible = [char for char in text if char not in _ASCII_SPACE]  # U+00A0 and its kind count
    if len(visible) >= _MIN_VISIBLE and Counter(visible).most_common(1)[0][1] > len(visible) // 2:
        raise LoaderError(
            f"binary content: one character is over half the text when read as {encoding} "
            "(a repeated byte, not text); check the file"
        )
    odd = sum(
        1
        for char in text
        if char == "\ufffd" or (unicodedata.category(char) in _NOT_TEXT and char not in _TEXT_CONTROLS)
    )
    if text and odd > len(text) * _MAX_NOT_TEXT_SHARE:
        raise LoaderError(
            f"binary content: {odd * 100 // len(text)}% control or undefined characters when read "
            f"as {encoding} (not text); check the file"
        )


def decode(data: bytes) -> str:
    """Decode a whole file's bytes; undecodable bytes become U+FFFD rather than failing the file."""
    if bom_encoding(data) is None:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return data.decode(detect_encoding(_sample(data)), errors="replace")


def _sample(data: bytes) -> bytes:
    """Where detection should look: from the first non-ASCII byte, which ASCII-compatible
    encodings all read alike before; from the start when there is a byte-order mark."""
    first = None if bom_encoding(data) else _NON_ASCII.search(data)
    start = first.start() if first else 0
    return data[start : start + SNIFF_BYTES]


def iter_decode(stream: BinaryIO, block_size: int = 1 << 20) -> Iterator[str]:
    """Decode a binary stream piece by piece in bounded memory.

    Detection waits for the first non-ASCII byte (ASCII reads the same in every candidate), so
    a log whose first megabytes are ASCII and whose Chinese comes later is still read right;
    it then looks at up to SNIFF_BYTES from there and an incremental decoder does the rest,
    which also joins multi-byte characters split across reads.
    """
    decoder: codecs.IncrementalDecoder | None = None
    head = stream.read(max(block_size, SNIFF_BYTES))
    if encoding := bom_encoding(head):
        decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    block = head
    while block:
        if decoder is None:
            if block.isascii():
                yield block.decode("ascii")
                block = stream.read(block_size)
                continue
            block += stream.read(SNIFF_BYTES)  # so the sample is full even near the block's end
            encoding = detect_encoding(_sample(block))
            decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        if text := decoder.decode(block):
            yield text
        block = stream.read(block_size)
    if decoder is not None and (tail := decoder.decode(b"", final=True)):
        yield tail
