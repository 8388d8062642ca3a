"""Every loader on real files built at test time, and the registry's refusals of bad input."""

from __future__ import annotations

import json
import random
import time
import tracemalloc
from pathlib import Path

import docx
import pytest
from fpdf import FPDF
from pypdf import PdfWriter

from ingest.loaders import SUPPORTED_EXTENSIONS, LoaderError, load, loader_for

CHINESE = "深圳办公室位于南山区科技园，负责人是陈伟。腾讯公司总部也在深圳。"


def texts(path: Path) -> list[str]:
    return [section.text for section in load(path).sections]


def write_pdf(path: Path, pages: list[str], title: str | None = None) -> None:
    pdf = FPDF()
    if title:
        pdf.set_title(title)
    for text in pages:
        pdf.add_page()
        pdf.set_font("helvetica", size=12)
        pdf.multi_cell(0, 8, text)
    pdf.output(str(path))


def encrypt_pdf(source: Path, target: Path, user_password: str) -> None:
    writer = PdfWriter(clone_from=source)
    writer.encrypt(user_password=user_password, owner_password="owner-secret")
    writer.write(target)


# --- the registry -------------------------------------------------------------------------------


def test_every_extension_maps_to_a_loader_that_claims_it() -> None:
    for extension in SUPPORTED_EXTENSIONS:
        assert extension in loader_for(Path(f"file{extension}")).extensions


def test_extension_match_ignores_case(tmp_path: Path) -> None:
    path = tmp_path / "NOTES.TXT"
    path.write_text("upper-case extension")
    assert texts(path) == ["upper-case extension"]


@pytest.mark.parametrize("name", ["archive.rar", "Makefile"])
def test_unsupported_extension_is_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("anything")
    with pytest.raises(LoaderError, match=r"unsupported file type .*supported: .*\.pdf"):
        load(path)


@pytest.mark.parametrize("name", ["empty.txt", "empty.pdf", "empty.docx", "empty.json"])
def test_empty_file_is_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.touch()
    with pytest.raises(LoaderError, match=r"^empty file$"):
        load(path)


def test_file_over_the_limit_is_refused_naming_size_and_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_bytes(b"x" * (3 * 2**20))
    with pytest.raises(LoaderError, match=r"file is 3\.0 MB, over the 2\.0 MB limit; raise RAG_MAX_FILE_MB"):
        load(path, max_bytes=2 * 2**20)
    assert "".join(texts(path)) == "x" * (3 * 2**20)  # no limit given: loads


def test_missing_file_is_a_loader_error(tmp_path: Path) -> None:
    with pytest.raises(LoaderError, match="cannot read the file"):
        load(tmp_path / "gone.txt")


@pytest.mark.parametrize("name", ["photo.txt", "data.json", "page.html", "notes.md"])
def test_binary_content_in_a_text_format_is_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(random.Random(1).randbytes(5000) + b"\x00")
    with pytest.raises(LoaderError, match=r"binary content \(not text\) in a \.\w+ file"):
        load(path)


def test_pdf_named_txt_is_refused_as_binary(tmp_path: Path) -> None:
    write_pdf(tmp_path / "real.pdf", ["hello"])
    path = tmp_path / "real.txt"
    path.write_bytes((tmp_path / "real.pdf").read_bytes())
    with pytest.raises(LoaderError, match=r"binary content \(PDF\) in a \.txt file"):
        load(path)


def test_text_named_pdf_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fake.pdf"
    path.write_text("just some text")
    with pytest.raises(LoaderError, match="not a PDF"):
        load(path)


# --- plain text ---------------------------------------------------------------------------------


def test_txt_utf8(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("Ada Lovelace\n" + CHINESE, encoding="utf-8")
    assert texts(path) == ["Ada Lovelace\n" + CHINESE]


def test_txt_utf8_bom(tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbf" + b"Barbara Liskov works at MIT.")
    assert texts(path) == ["Barbara Liskov works at MIT."]


def test_txt_gbk_without_marker(tmp_path: Path) -> None:
    path = tmp_path / "gbk.txt"
    path.write_bytes(("报告\r\n" + CHINESE).encode("gbk"))
    assert texts(path) == ["报告\r\n" + CHINESE]


def test_txt_utf16_with_bom_is_text_not_binary(tmp_path: Path) -> None:
    path = tmp_path / "notepad.txt"
    path.write_bytes("Windows Notepad 你好".encode("utf-16"))
    assert texts(path) == ["Windows Notepad 你好"]


def test_big_txt_streams_in_sections_with_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    line = "2024-05-01 12:00:00 INFO served /api/query in 12 ms 深圳 ok\n"
    block = line * (2**20 // len(line.encode()))
    with path.open("w", encoding="utf-8") as out:
        for _ in range(50):
            out.write(block)
    size = path.stat().st_size
    assert size > 45 * 2**20

    started = time.perf_counter()
    tracemalloc.start()
    sections = 0
    chars = 0
    try:
        for section in load(path).sections:
            sections += 1
            chars += len(section.text)
            assert section.text.endswith("\n")  # cut at line ends only
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sections >= 40
    assert chars == len(block) * 50
    assert peak < 16 * 2**20, f"peak {peak / 2**20:.1f} MB for a {size / 2**20:.0f} MB file"
    assert time.perf_counter() - started < 20


def test_txt_without_newlines_is_still_cut(tmp_path: Path) -> None:
    from ingest.loaders.text import iter_text_sections

    path = tmp_path / "one-line.txt"
    path.write_text("a" * 300_000)
    pieces = [s.text for s in iter_text_sections(path, block_bytes=1000)]
    assert "".join(pieces) == "a" * 300_000
    assert len(pieces) > 100
    assert max(len(p) for p in pieces[1:]) <= 2000  # the first read is larger: it feeds detection


# --- markdown -----------------------------------------------------------------------------------


def test_markdown_strips_markup_and_keeps_heading_path(tmp_path: Path) -> None:
    path = tmp_path / "guide.md"
    path.write_text(
        "# Kestrel Project\n\nThe *Kestrel* project was founded by **Grace Hopper** in [Arlington](http://x).\n\n"
        "## Install\n\n- run `pip install kestrel`\n- done\n\n| os | ok |\n|---|---|\n| linux | yes |\n\n"
        "```python\nprint('hi')\n```\n\n### Linux\n\nUse apt.\n\n# FAQ\n\nNone yet.\n",
        encoding="utf-8",
    )
    sections = list(load(path).sections)
    assert [s.metadata for s in sections] == [
        {"heading": "Kestrel Project"},
        {"heading": "Kestrel Project > Install"},
        {"heading": "Kestrel Project > Install > Linux"},
        {"heading": "FAQ"},
    ]
    assert "The Kestrel project was founded by Grace Hopper in Arlington." in sections[0].text
    install = sections[1].text
    assert "run pip install kestrel" in install
    assert "os | ok\nlinux | yes" in install
    assert "print('hi')" in install
    for syntax in ("**", "`", "](", "|---", "```", "#"):
        assert syntax not in "".join(s.text for s in sections)


def test_markdown_without_headings_is_one_section(tmp_path: Path) -> None:
    path = tmp_path / "plain.md"
    path.write_bytes(("第一段。\n\n" + CHINESE).encode("gbk"))
    [section] = load(path).sections
    assert section.text == "第一段。\n\n" + CHINESE
    assert section.metadata == {}


# --- html ---------------------------------------------------------------------------------------


def test_html_drops_script_style_nav_and_keeps_title(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title> Turing </title><style>p {color: red}</style></head><body>"
        "<nav><a href='/'>Home</a> | <a href='/about'>About</a></nav>"
        "<script>var tracking = 'SCRIPT';</script><h1>Alan Turing</h1>"
        "<p>Alan Turing joined <b>Bletchley</b> Park during the war.</p><p>Second paragraph.</p>"
        "<table><tr><th>name</th><th>born</th></tr><tr><td>Turing</td><td>1912</td></tr></table>"
        "<!-- a comment --></body></html>",
        encoding="utf-8",
    )
    document = load(path)
    [section] = document.sections
    assert document.metadata == {"title": "Turing"}
    lines = [line for line in section.text.splitlines() if line.strip()]
    assert lines == [
        "Alan Turing",
        "Alan Turing joined Bletchley Park during the war.",
        "Second paragraph.",
        "name | born",
        "Turing | 1912",
    ]


def test_html_declared_gb2312_reads_gbk_characters(tmp_path: Path) -> None:
    path = tmp_path / "cn.htm"
    body = (
        f"<html><head><meta charset='gb2312'><title>标题</title></head><body><p>{CHINESE}镕</p></body></html>"
    )
    path.write_bytes(body.encode("gbk"))  # 镕 is in GBK, not in GB2312
    document = load(path)
    assert document.metadata == {"title": "标题"}
    assert CHINESE + "镕" in next(document.sections).text


# --- pdf ----------------------------------------------------------------------------------------


def test_pdf_one_section_per_page(tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    write_pdf(path, ["Katherine Johnson worked at NASA Langley.", "Orbital mechanics on page two."], "Report")
    document = load(path)
    sections = list(document.sections)
    assert document.mime == "application/pdf"
    assert document.metadata == {"pages": 2, "title": "Report"}
    assert [s.metadata for s in sections] == [{"page": 1}, {"page": 2}]
    assert "Katherine Johnson worked at NASA Langley." in sections[0].text
    assert "Orbital mechanics on page two." in sections[1].text


def test_pdf_with_a_blank_page_skips_it(tmp_path: Path) -> None:
    path = tmp_path / "gap.pdf"
    write_pdf(path, ["first", "", "third"])
    assert [s.metadata["page"] for s in load(path).sections] == [1, 3]


@pytest.mark.parametrize("cut", ["half", "garbage"])
def test_corrupt_pdf_is_refused(tmp_path: Path, cut: str) -> None:
    good = tmp_path / "good.pdf"
    write_pdf(good, ["some text"])
    data = good.read_bytes()
    path = tmp_path / "broken.pdf"
    path.write_bytes(data[: len(data) // 2] if cut == "half" else b"%PDF-1.7\n" + bytes(range(256)) * 40)
    with pytest.raises(LoaderError, match="corrupt or unreadable PDF"):
        list(load(path).sections)


def test_password_protected_pdf_is_refused(tmp_path: Path) -> None:
    write_pdf(tmp_path / "plain.pdf", ["top secret"])
    path = tmp_path / "locked.pdf"
    encrypt_pdf(tmp_path / "plain.pdf", path, user_password="let-me-in")
    with pytest.raises(LoaderError, match="password-protected PDF"):
        load(path)


def test_pdf_encrypted_only_against_editing_is_read(tmp_path: Path) -> None:
    write_pdf(tmp_path / "plain.pdf", ["readable by anyone"])
    path = tmp_path / "no-edit.pdf"
    encrypt_pdf(tmp_path / "plain.pdf", path, user_password="")
    assert "readable by anyone" in texts(path)[0]


def test_pdf_without_text_layer_says_so(tmp_path: Path) -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 100, 60, style="F")  # a drawing, as a scanner's image would be: no text
    path = tmp_path / "scan.pdf"
    pdf.output(str(path))
    document = load(path)  # opening works; the missing text shows while reading pages
    with pytest.raises(LoaderError, match=r"no text layer \(scanned"):
        list(document.sections)


# --- docx ---------------------------------------------------------------------------------------


def write_memo(path: Path) -> None:
    document = docx.Document()
    document.core_properties.title = "Memo"
    document.add_heading("Quarterly memo", level=0)
    document.add_paragraph("Edsger Dijkstra moved to Austin.")
    document.add_heading("Sales", level=1)
    document.add_paragraph("Before the table.")
    table = document.add_table(rows=3, cols=3)
    for row in range(3):
        for col in range(3):
            table.cell(row, col).text = f"r{row}c{col}"
    table.cell(0, 0).merge(table.cell(0, 1)).text = "Region"
    document.add_paragraph("After the table.")
    document.add_heading("North", level=2)
    document.add_paragraph("Northern detail.")
    document.add_heading("Costs", level=1)
    document.add_paragraph("Costs fell.")
    document.save(str(path))


def test_docx_paragraphs_and_tables_in_order_with_headings(tmp_path: Path) -> None:
    path = tmp_path / "memo.docx"
    write_memo(path)
    document = load(path)
    sections = list(document.sections)
    assert document.metadata == {"title": "Memo"}
    assert [s.metadata for s in sections] == [
        {"heading": "Quarterly memo"},
        {"heading": "Quarterly memo > Sales"},
        {"heading": "Quarterly memo > Sales > North"},
        {"heading": "Quarterly memo > Costs"},
    ]
    assert sections[0].text == "Quarterly memo\n\nEdsger Dijkstra moved to Austin."
    table = "Region | r0c2\nr1c0 | r1c1 | r1c2\nr2c0 | r2c1 | r2c2"  # the merged cell once
    assert sections[1].text == f"Sales\n\nBefore the table.\n\n{table}\n\nAfter the table."


def test_corrupt_docx_is_refused(tmp_path: Path) -> None:
    good = tmp_path / "good.docx"
    write_memo(good)
    path = tmp_path / "broken.docx"
    path.write_bytes(good.read_bytes()[:3000])
    with pytest.raises(LoaderError, match="corrupt or unreadable Word document"):
        load(path)


def test_legacy_or_protected_word_file_named_docx_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.docx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600))
    with pytest.raises(LoaderError, match=r"not a valid \.docx file .*save it as an unprotected \.docx"):
        load(path)


# --- json ---------------------------------------------------------------------------------------


def test_json_object_is_flattened_to_paths(tmp_path: Path) -> None:
    path = tmp_path / "profile.json"
    data = {
        "name": "Claude Shannon",
        "work": {"field": "information theory", "years": [1948, 1949]},
        "x": None,
    }
    path.write_text(json.dumps(data))
    document = load(path)
    lines = [
        "name: Claude Shannon",
        "work.field: information theory",
        "work.years[0]: 1948",
        "work.years[1]: 1949",
    ]
    assert [s.text for s in document.sections] == ["\n".join([*lines, "x: null"])]
    assert document.tables == []


def test_json_gbk_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "cn.json"
    path.write_bytes(json.dumps({"说明": CHINESE}, ensure_ascii=False).encode("gbk"))
    assert texts(path) == [f"说明: {CHINESE}"]


@pytest.mark.parametrize(
    ("source", "where"),
    [('{\n  "a": 1,\n  "b": [1, 2\n}\n', "line 4, column 1"), ('{"a": tru}', "line 1, column 7")],
)
def test_malformed_json_names_line_and_column(tmp_path: Path, source: str, where: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(source)
    with pytest.raises(LoaderError, match=f"malformed JSON at {where}: "):
        load(path)


def test_json_array_of_nested_objects_is_text_only(tmp_path: Path) -> None:
    path = tmp_path / "nested.json"
    path.write_text(json.dumps([{"a": {"b": 1}}, {"a": {"b": 2}}]))
    document = load(path)
    assert [s.text for s in document.sections] == ["a.b: 1\n\na.b: 2\n"]
    assert document.tables == []


def test_json_array_of_flat_objects_is_also_a_table(tmp_path: Path) -> None:
    path = tmp_path / "cities.json"
    records = [
        {"city": "深圳", "population": 17.6, "capital": False},
        {"city": "Beijing", "population": 21.9},
    ]
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    document = load(path)
    [table] = document.tables
    assert table.name == "cities"
    assert [c.name for c in table.columns] == ["city", "population", "capital"]
    assert [r[0] for r in table.rows] == ["深圳", "Beijing"]
    assert "city: 深圳\npopulation: 17.6\ncapital: false" in next(document.sections).text
