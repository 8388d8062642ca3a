"""Text encoding detection and decoding, whole or streamed.

Order of evidence, cheapest and most certain first: a byte-order mark, then strict UTF-8
(almost never wrong when it succeeds), then charset-normalizer. Its guesses on short Chinese
text without a marker swing between GBK, Big5 and CP949, so whenever GB18030 (a superset of
GB2312 and GBK, what Chinese Windows writes) is among the plausible CJK candidates it wins;
likewise CP1252 wins a tie among single-byte guesses.
"""

from __future__ import annotations

import codecs
import re
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
_NON_ASCII = re.compile(rb"[\x80-\xff]")


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
    best = matches.best()
    if best is None:
        raise LoaderError("cannot detect the text encoding (binary content?); save the file as UTF-8")
    candidates = {match.encoding for match in matches}
    if best.encoding in _CJK_MULTIBYTE and candidates & _CHINESE:
        return "gb18030"
    # among equally good single-byte guesses, Western European is by far the most common
    tied = {m.encoding for m in matches if (m.chaos, m.coherence) == (best.chaos, best.coherence)}
    return "cp1252" if "cp1252" in tied else best.encoding


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
