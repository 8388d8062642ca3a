"""Hostile files, built at test time and cheaply: zip bombs (honest and with a lying directory),
Word files of tens of thousands of empty entries, a workbook of a million rows, a PDF of ten
thousand pages, a PDF whose content stream inflates to gigabytes, documents nested 100,000 levels
deep, HTML of millions of sibling elements or attributes.

Nothing here is committed as a file: a 3 GB bomb is 3 MB on disk and about a second to write,
because its deflate stream is one compressed megabyte of "A" repeated (a full flush resets the
compressor, so every repetition compresses to the same bytes).
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import docx

_BLOCK = b"A" * (1 << 20)
_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_DOCUMENT_HEAD = (
    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="{_W}"><w:body><w:p>'
    "<w:r><w:t>"
).encode()
_DOCUMENT_TAIL = b"</w:t></w:r></w:p></w:body></w:document>"
_SHEET_HEAD = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
)
_SHEET_TAIL = b"</sheetData></worksheet>"
_XLSX_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName='
        '"/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.'
        'main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.'
        'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
        '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
        '2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/workbook.xml": (
        '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
        '2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
        '<sheet name="Data" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
        '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
        '2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
    ),
}


def _deflated_bomb(head: bytes, tail: bytes, inflated: int) -> tuple[bytes, int, int]:
    """A raw deflate stream of `head`, `inflated` bytes of "A" and `tail`: (stream, CRC, size)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = compressor.compress(head) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(_BLOCK) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert compressor.compress(_BLOCK) + compressor.flush(zlib.Z_FULL_FLUSH) == block
    count = inflated // len(_BLOCK)
    stream = first + block * count + compressor.compress(tail) + compressor.flush()
    crc = zlib.crc32(head)
    for _ in range(count):
        crc = zlib.crc32(_BLOCK, crc)
    return stream, zlib.crc32(tail, crc), len(head) + count * len(_BLOCK) + len(tail)


def _write_zip(path: Path, members: Iterator[tuple[str, bytes, int, int]], declared: dict[str, int]) -> None:
    """A zip of raw deflated members (name, stream, CRC, size); `declared` overrides the size the
    central directory states for a member (the local header keeps the truth, as zipfile ignores it)."""
    entries = []
    with path.open("wb") as out:
        for name, stream, crc, size in members:
            offset = out.tell()
            encoded = name.encode()
            out.write(
                struct.pack(
                    "<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(stream), size, len(encoded), 0
                )
            )
            out.write(encoded)
            out.write(stream)
            entries.append((encoded, crc, len(stream), declared.get(name, size), offset))
        start = out.tell()
        for encoded, crc, compressed, size, offset in entries:
            out.write(
                struct.pack(
                    "<4s6H3L5H2L",
                    b"PK\x01\x02",
                    20,
                    20,
                    0,
                    8,
                    0,
                    0,
                    crc,
                    compressed,
                    size,
                    len(encoded),
                    0,
                    0,
                    0,
                    0,
                    0,
                    offset,
                )
            )
            out.write(encoded)
        end = out.tell()
        out.write(
            struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), end - start, start, 0)
        )


def _small(name: str, data: bytes) -> tuple[str, bytes, int, int]:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return name, compressor.compress(data) + compressor.flush(), zlib.crc32(data), len(data)


def docx_bomb(path: Path, inflated: int, declared: int | None = None) -> Path:
    """A Word file whose `word/document.xml` inflates to `inflated` bytes; with `declared`, the
    zip directory says the member is that large instead (a lying directory)."""
    base = io.BytesIO()
    docx.Document().save(base)
    with zipfile.ZipFile(base) as source:
        parts = [
            _small(i.filename, source.read(i)) for i in source.infolist() if i.filename != "word/document.xml"
        ]
    bomb = ("word/document.xml", *_deflated_bomb(_DOCUMENT_HEAD, _DOCUMENT_TAIL, inflated))
    _write_zip(path, iter([*parts, bomb]), {} if declared is None else {"word/document.xml": declared})
    return path


def docx_entries(path: Path, entries: int, declared: int | None = None) -> Path:
    """A valid Word file with `entries` empty members more (`x/0`, `x/1`...), stored: a directory
    of 56 bytes an entry. With `declared`, its end record says that many entries instead (a lying
    count: zipfile ignores it and parses the whole directory). More than 65,535 entries need the
    Zip64 end record, which zipfile writes."""
    base = io.BytesIO()
    docx.Document().save(base)
    with zipfile.ZipFile(base) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for member in source.infolist():
            archive.writestr(member.filename, source.read(member))
        for number in range(entries):
            archive.writestr(f"x/{number}", b"")
    if declared is not None:
        assert entries + 20 < 0xFFFF, "a lying count is written into the 16-bit end record"
        data = bytearray(path.read_bytes())
        data[-22 + 8 : -22 + 12] = struct.pack("<2H", declared, declared)  # on this disk, in all
        path.write_bytes(bytes(data))
    return path


def xlsx_bomb(path: Path, inflated: int) -> Path:
    """A workbook whose one sheet's XML inflates to `inflated` bytes (one huge text run)."""
    parts = [_small(name, text.encode()) for name, text in _XLSX_PARTS.items()]
    head = _SHEET_HEAD + b'<row r="1"><c r="A1" t="inlineStr"><is><t>'
    bomb = ("xl/worksheets/sheet1.xml", *_deflated_bomb(head, b"</t></is></c></row>" + _SHEET_TAIL, inflated))
    _write_zip(path, iter([*parts, bomb]), {})
    return path


def xlsx_rows(path: Path, rows: int) -> Path:
    """A workbook of one sheet: a header (id, amount, region) and `rows` rows, its XML streamed."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in _XLSX_PARTS.items():
            archive.writestr(name, text)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(_SHEET_HEAD)
            sheet.write(
                b'<row r="1"><c r="A1" t="inlineStr"><is><t>id</t></is></c><c r="B1" t="inlineStr"><is>'
                b'<t>amount</t></is></c><c r="C1" t="inlineStr"><is><t>region</t></is></c></row>'
            )
            for start in range(2, rows + 2, 10_000):
                sheet.write(
                    "".join(
                        f'<row r="{r}"><c r="A{r}"><v>{r}</v></c><c r="B{r}"><v>{r * 7 % 1000}.5</v></c>'
                        f'<c r="C{r}" t="inlineStr"><is><t>north</t></is></c></row>'
                        for r in range(start, min(start + 10_000, rows + 2))
                    ).encode()
                )
            sheet.write(_SHEET_TAIL)
    return path


def pdf_pages(path: Path, pages: int) -> Path:
    """A valid PDF of `pages` pages, each with one line of text ("Page n of the long manual."),
    written object by object: 10,000 pages in a tenth of a second."""

    def content(number: int) -> bytes:
        return b"BT /F1 12 Tf 72 720 Td (Page %d of the long manual.) Tj ET" % number

    return _paged_pdf(path, [], pages, content, b"")


def deep_json(path: Path, depth: int, kind: str = "array") -> Path:
    opened, closed = ("[", "]") if kind == "array" else ('{"a":', "}")
    path.write_text(opened * depth + "1" + closed * depth)
    return path


def deep_html(path: Path, depth: int, closed: bool = True) -> Path:
    body = "<div>" * depth + "deep text" + ("</div>" * depth if closed else "")
    path.write_text(f"<html><body>{body}</body></html>")
    return path


def wide_html(path: Path, siblings: int) -> Path:
    """A page of one `<div>` holding `siblings` paragraphs side by side (8 bytes each)."""
    path.write_text("<html><body><div>" + "<p>x</p>" * siblings + "</div></body></html>")
    return path


def attributes_html(path: Path, attributes: int) -> Path:
    """A page of one `<div>` with `attributes` empty attributes (`a0=""`, `a1=""`...) in its start tag."""
    names = " ".join(f'a{n}=""' for n in range(attributes))
    path.write_text(f"<html><body><div {names}>text</div></body></html>")
    return path


def _deflated_zeros(head: bytes, zeros: int) -> bytes:
    """A zlib stream of `head` then `zeros` NUL bytes (white space to a PDF content stream), a
    megabyte at a time: about a thousandth of what it inflates to (1 GB: 1 MB, in a second)."""
    compressor = zlib.compressobj(9)
    block = bytes(1 << 20)
    parts = [compressor.compress(head)]
    for start in range(0, zeros, len(block)):
        parts.append(compressor.compress(block[: min(len(block), zeros - start)]))
    return b"".join(parts) + compressor.flush()


def pdf_stream_bomb(path: Path, inflated: int, pages: int = 1, shared: bool = False) -> Path:
    """A PDF of `pages` pages, each with one line of text ("Page n of the bomb.") in a FlateDecode
    content stream padded with zeros to `inflated` bytes; `shared`: all pages draw one such stream."""
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"",  # the page tree, once the pages are numbered
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    kids, content = [], 0
    for number in range(1, pages + 1):
        if not shared or number == 1:
            head = f"BT /F1 12 Tf 72 720 Td (Page {number} of the bomb.) Tj ET\n".encode()
            stream = _deflated_zeros(head, inflated - len(head))
            objects.append(
                b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(stream), stream)
            )
            content = len(objects)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            b"/Contents %d 0 R >>" % content
        )
        kids.append(b"%d 0 R" % len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), pages)
    _write_pdf(path, objects)
    return path


def _paged_pdf(
    path: Path, shared: list[bytes], pages: int, content: Callable[[int], bytes], resources: bytes
) -> Path:
    """A PDF of `pages` pages drawing `content(n)` in Helvetica (object 3), with `shared` objects
    numbered from 4 and `resources` added to every page's resources."""
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"",  # the page tree, once the pages are numbered
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        *shared,
    ]
    kids = []
    for number in range(1, pages + 1):
        stream = content(number)
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> "
            b"%s>> /Contents %d 0 R >>" % (resources, len(objects))
        )
        kids.append(b"%d 0 R" % len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), pages)
    _write_pdf(path, objects)
    return path


def _write_pdf(path: Path, objects: list[bytes]) -> None:
    """Numbered objects (from 1), their cross-reference table and trailer, the first the catalog."""
    with path.open("wb") as out:
        out.write(b"%PDF-1.4\n")
        offsets = []
        for number, body in enumerate(objects, start=1):
            offsets.append(out.tell())
            out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
        xref = out.tell()
        out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
        out.write(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
        out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))


def pdf_form_bomb(path: Path, inflated: int, pages: int, draws: int = 1) -> Path:
    """A PDF of `pages` pages that each draw one form XObject `draws` times (`/X0 Do`), the form a
    line of text ("In the form.") in a FlateDecode stream padded with zeros to `inflated` bytes."""
    form = _deflated_zeros(b"BT /F1 12 Tf 72 700 Td (In the form.) Tj ET\n", inflated)
    shared = [
        b"<< /Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
        b"/Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(form), form),
    ]

    def content(number: int) -> bytes:
        return b"BT /F1 12 Tf 72 720 Td (Page %d draws the form.) Tj ET" % number + b" /X0 Do" * draws

    return _paged_pdf(path, shared, pages, content, b"/XObject << /X0 4 0 R >> ")
