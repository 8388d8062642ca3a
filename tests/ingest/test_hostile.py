"""Hostile and broken input: each fails alone with a clear reason, fast and in bounded memory, and
nothing already stored is lost.

Zip bombs in .docx and .xlsx (honest and with a directory that understates them), zips of tens of
thousands of entries (and an end record that understates them), a million-row workbook, a
10,000-page PDF, PDF stream bombs (one stream of 1 GB, pages that inflate past the budget
together), JSON and HTML nested 100,000 levels deep, HTML of millions of siblings or of one
element's attributes, files of another type than their extension, binary bytes in a .txt, file
names no store can hold, and symbolic links out of a walked folder. The files are built at
test time (tests/hostile.py); memory is the peak RSS of a child process that loads one file.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ingest.loaders import LoaderError, load
from ingest.loaders.base import Limits
from ingest.pipeline import IngestSummary
from rag.config import Settings
from rag.embed import Embedder
from tests.builders import REPO, ingest_pipeline, open_test_stores
from tests.corpus import write_docx, write_pdf
from tests.hostile import (
    attributes_html,
    deep_html,
    deep_json,
    docx_bomb,
    docx_entries,
    pdf_form_bomb,
    pdf_pages,
    pdf_stream_bomb,
    wide_html,
    xlsx_bomb,
    xlsx_rows,
)
from tests.postgres import create_database

GB = 1 << 30
#: a child that imports the loaders and reads one small file peaks at about 40 MB here
CHILD_MB = 160

_LOAD_ONE = """
import json, sys, time
from pathlib import Path
from ingest.loaders import LoaderError, load
from ingest.loaders.base import Limits
started = time.perf_counter()
try:
    document = load(Path(sys.argv[1]), limits=Limits(**json.loads(sys.argv[2])))
    sections = sum(1 for _ in document.sections)
    print(json.dumps({"sections": sections, "rows": sum(len(t.rows) for t in document.tables)}))
except LoaderError as error:
    print(json.dumps({"error": str(error), "seconds": time.perf_counter() - started}))
"""


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process that imports this checkout's code, as the test does."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, **extra}


#: Starts the command and reports its peak RSS. Linux carries a process's peak over `exec`, and
#: subprocess forks the test process (which may hold models by then): measured directly, a child's
#: peak would be at least the test process's own. This small launcher's is a few MB.
_MEASURE = (
    "import os, subprocess, sys; child = subprocess.Popen(sys.argv[1:]); "
    "_, status, usage = os.wait4(child.pid, 0); "
    "print(usage.ru_maxrss, file=sys.stderr); sys.exit(os.waitstatus_to_exitcode(status))"
)


def measured(command: list[str], env: dict[str, str]) -> tuple[int, str, float]:
    """Run `command`: its exit code, its output and its peak RSS in MB."""
    with tempfile.TemporaryFile("w+") as output, tempfile.TemporaryFile("w+") as errors:
        launcher = subprocess.run(
            [sys.executable, "-c", _MEASURE, *command], env=env, stdout=output, stderr=errors
        )
        output.seek(0)
        errors.seek(0)
        *logged, peak_kb = errors.read().rstrip().rsplit("\n", 1)
        assert launcher.returncode in (0, 1), logged[-1][-2000:] if logged else peak_kb
        return launcher.returncode, output.read(), int(peak_kb) / 1024


def load_in_child(path: Path, **limits: int) -> tuple[dict[str, Any], float]:
    """Load `path` in a fresh interpreter: what it printed (the error and the seconds `load` took to
    raise it, or what it read) and its peak RSS in MB."""
    code, output, peak_mb = measured(
        [sys.executable, "-c", _LOAD_ONE, str(path), json.dumps(limits)], child_env()
    )
    assert code == 0
    return json.loads(output), peak_mb


def test_the_limits_are_settings_that_rag_config_shows() -> None:
    shown = Settings().masked()
    defaults = {
        "max_unzipped_mb": 256.0,
        "max_zip_entries": 10_000,
        "max_table_rows": 300_000,
        "max_pdf_pages": 5000,
        "max_nesting": 512,
        "max_html_elements": 200_000,
    }
    assert {name: shown[name] for name in defaults} == defaults
    assert all(Settings.model_fields[name].description for name in defaults)
    assert Limits() == Limits.from_settings(Settings())  # the defaults are the settings' own
    custom = Limits.from_settings(
        Settings(
            max_unzipped_mb=1.5,
            max_zip_entries=5,
            max_table_rows=7,
            max_pdf_pages=3,
            max_nesting=9,
            max_html_elements=11,
        )
    )
    assert custom == Limits(
        max_unzipped_bytes=3 << 19,
        max_zip_entries=5,
        max_table_rows=7,
        max_pdf_pages=3,
        max_nesting=9,
        max_html_elements=11,
    )


# --- zip bombs ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_3_gb_docx_bomb_fails_from_its_zip_directory_in_bounded_memory(tmp_path: Path) -> None:
    bomb = docx_bomb(tmp_path / "bomb.docx", 3 * GB)
    assert bomb.stat().st_size < 4 << 20  # 3 MB on disk
    result, peak_mb = load_in_child(bomb)
    # before the check: 6.4 GB of resident memory and 32 s before lxml gave up on the text node
    assert re.fullmatch(
        r"the archive inflates to 3072\.\d MB \('word/document\.xml' alone 3072\.0 MB\), over the 256\.0 MB "
        r"limit \(a zip bomb\?\); raise RAG_MAX_UNZIPPED_MB to allow it",
        result["error"],
    )
    assert result["seconds"] < 10 and peak_mb < CHILD_MB, (result, peak_mb)  # measured: 0.15 s


def test_a_bomb_whose_zip_directory_understates_it_fails_on_its_crc_in_bounded_memory(tmp_path: Path) -> None:
    # the directory says 1 KB; zipfile's read() would inflate the whole GB in one call
    bomb = docx_bomb(tmp_path / "liar.docx", GB, declared=1000)
    result, peak_mb = load_in_child(bomb)
    assert result["error"].startswith("corrupt or unreadable Word document (.docx: Bad CRC-32")
    assert peak_mb < CHILD_MB, peak_mb


def test_an_xlsx_bomb_fails_from_its_zip_directory(tmp_path: Path) -> None:
    started = time.perf_counter()
    with pytest.raises(
        LoaderError, match=r"inflates to 1024\.0 MB \('xl/worksheets/sheet1\.xml' alone 1024\.0 MB\)"
    ):
        load(xlsx_bomb(tmp_path / "bomb.xlsx", GB))
    assert time.perf_counter() - started < 30


def test_an_office_file_with_a_compression_office_does_not_use_is_refused(tmp_path: Path) -> None:
    source, path = _docx(tmp_path / "plain.docx"), tmp_path / "bzip2.docx"
    with zipfile.ZipFile(source) as plain, zipfile.ZipFile(path, "w", zipfile.ZIP_BZIP2) as packed:
        for member in plain.infolist():
            packed.writestr(member.filename, plain.read(member))
    # bzip2 and lzma have no bound on what one block inflates to
    with pytest.raises(
        LoaderError, match=r"'\[Content_Types\]\.xml' uses a compression Office files do not use"
    ):
        load(path)


def test_an_archive_under_the_limit_is_read(tmp_path: Path) -> None:
    document = load(docx_bomb(tmp_path / "big.docx", 8 << 20))  # 8 MB of text in one run
    assert sum(len(s.text) for s in document.sections) == 8 << 20
    with pytest.raises(LoaderError, match=r"over the 4\.0 MB limit"):
        load(tmp_path / "big.docx", limits=Limits(max_unzipped_bytes=4 << 20))


# --- zips of too many entries ---------------------------------------------------------------


def test_a_docx_of_70000_entries_fails_from_its_end_record_in_bounded_memory(tmp_path: Path) -> None:
    many = docx_entries(tmp_path / "many.docx", 70_000)  # over 65,535: the Zip64 end record
    result, peak_mb = load_in_child(many)
    # before: zipfile parsed the whole directory (1,000,000 entries: 19 s and 620 MB) and took it
    assert result["error"] == (
        "the archive lists 70,017 entries, over the 10,000 limit; raise RAG_MAX_ZIP_ENTRIES to allow it"
    )
    assert result["seconds"] < 1 and peak_mb < CHILD_MB, (result, peak_mb)  # measured at 1M: 0.02 s, 45 MB


def test_a_zip_whose_end_record_understates_its_entries_is_counted_header_by_header(tmp_path: Path) -> None:
    limits = Limits(max_zip_entries=100)
    with pytest.raises(
        LoaderError, match=r"the archive's directory holds over 100 entries \(its end record says 5\)"
    ):
        load(docx_entries(tmp_path / "liar.docx", 200, declared=5), limits=limits)
    assert list(load(docx_entries(tmp_path / "fine.docx", 80, declared=3), limits=limits).sections) == []
    docx_entries(tmp_path / "many.docx", 200).rename(tmp_path / "many.pdf")  # not opened to be named
    with pytest.raises(LoaderError, match=r"not a PDF \(content is a zip archive of too many entries\)"):
        load(tmp_path / "many.pdf", limits=limits)


# --- rows, pages, nesting ------------------------------------------------------------------------


@pytest.mark.slow
def test_a_million_row_workbook_fails_before_openpyxl_reads_a_row(tmp_path: Path) -> None:
    workbook = xlsx_rows(tmp_path / "million.xlsx", 1_000_000)
    result, peak_mb = load_in_child(workbook)
    # before the limit: 69 s and 620 MB to load, and every row then went into the SQL store
    assert result["error"] == "the workbook has over 300,000 rows; raise RAG_MAX_TABLE_ROWS to allow it"
    assert result["seconds"] < 30 and peak_mb < CHILD_MB + 40, (result, peak_mb)  # measured: 3 s


def test_tables_are_read_up_to_the_row_limit_and_refused_past_it(tmp_path: Path) -> None:
    limits = Limits(max_table_rows=2000)
    assert len(load(xlsx_rows(tmp_path / "ok.xlsx", 2000), limits=limits).tables[0].rows) == 2000
    with pytest.raises(LoaderError, match="the workbook has over 2,000 rows"):
        load(xlsx_rows(tmp_path / "over.xlsx", 2001), limits=limits)
    csv = tmp_path / "rows.csv"
    csv.write_text("id,amount\n" + "".join(f"{n},{n * 3}\n" for n in range(2001)))
    with pytest.raises(LoaderError, match="the csv file has over 2,000 rows; raise RAG_MAX_TABLE_ROWS"):
        load(csv, limits=limits)
    records = tmp_path / "records.json"
    records.write_text(json.dumps([{"id": n, "name": f"item {n}"} for n in range(3)]))
    with pytest.raises(LoaderError, match="the JSON array has over 2 rows"):
        load(records, limits=Limits(max_table_rows=2))


def test_a_10000_page_pdf_is_refused_by_its_page_count_before_a_page_is_read(tmp_path: Path) -> None:
    pdf = pdf_pages(tmp_path / "manual.pdf", 10_000)
    # raised by load() itself: pages are read only while its sections are consumed
    with pytest.raises(
        LoaderError, match=r"PDF of 10,000 pages, over the 5,000 limit; raise RAG_MAX_PDF_PAGES"
    ):
        load(pdf)


@pytest.mark.slow
def test_a_10000_page_pdf_streams_page_by_page_when_the_limit_allows_it(tmp_path: Path) -> None:
    result, peak_mb = load_in_child(pdf_pages(tmp_path / "manual.pdf", 10_000), max_pdf_pages=20_000)
    assert result == {"sections": 10_000, "rows": 0}
    assert peak_mb < CHILD_MB + 100, peak_mb  # measured: 106 MB (a small text file: 37 MB)


@pytest.mark.parametrize(
    ("name", "build", "reason"),
    [
        ("array.json", lambda p: deep_json(p, 100_000), "JSON nested deeper than the parser reads"),
        (
            "object.json",
            lambda p: deep_json(p, 100_000, "object"),
            "JSON nested deeper than the parser reads",
        ),
        ("closed.html", lambda p: deep_html(p, 100_000), "HTML nested over 512 levels deep"),
        ("unclosed.html", lambda p: deep_html(p, 100_000, closed=False), "HTML nested over 512 levels deep"),
        ("600.json", lambda p: deep_json(p, 600), "JSON nested over 512 levels deep; raise RAG_MAX_NESTING"),
        ("600.html", lambda p: deep_html(p, 600), "HTML nested over 512 levels deep; raise RAG_MAX_NESTING"),
    ],
)
def test_documents_nested_too_deep_fail_fast(tmp_path: Path, name: str, build: Any, reason: str) -> None:
    path = build(tmp_path / name)
    started = time.perf_counter()
    with pytest.raises(LoaderError, match=reason):
        list(load(path).sections)
    # the HTML of 100,000 levels took nearly 8 minutes before (each "\n" appended walked the depth)
    assert time.perf_counter() - started < 30


def test_nesting_under_the_limit_is_read(tmp_path: Path) -> None:
    [section] = load(deep_json(tmp_path / "deep.json", 400)).sections
    assert section.text.strip() == "[0]" * 399 + ": 1"  # the top-level array's items have no index
    [section] = load(deep_html(tmp_path / "deep.html", 400)).sections
    assert section.text.strip() == "deep text"


# --- PDF stream bombs ----------------------------------------------------------------------------

MB = 1 << 20


def test_a_pdf_whose_content_stream_inflates_to_1_gb_fails_in_bounded_memory(tmp_path: Path) -> None:
    bomb = pdf_stream_bomb(tmp_path / "bomb.pdf", GB)
    assert bomb.stat().st_size < 2 * MB  # 1 MB on disk
    result, peak_mb = load_in_child(bomb)
    # pypdf's own limit for one stream (75 MB) held before too, reported as a corrupt PDF
    assert result["error"] == (
        "page 1: a compressed stream inflates past 71.5 MB, pypdf's limit for one stream (a stream bomb?)"
    )
    assert result["seconds"] < 10 and peak_mb < CHILD_MB + 100, (result, peak_mb)  # measured: 0.2 s, 200 MB


def test_the_pages_of_a_pdf_share_one_inflate_budget(tmp_path: Path) -> None:
    # eight pages of 20 MB each: pypdf kept every page's stream (10 of 70 MB: 27 s and 910 MB, read)
    bomb = pdf_stream_bomb(tmp_path / "pages.pdf", 20 * MB, pages=8)
    result, peak_mb = load_in_child(bomb, max_unzipped_bytes=64 * MB)
    assert result["error"] == (
        "the PDF's compressed streams inflate past the 64.0 MB limit by page 4 (a stream bomb?); "
        "raise RAG_MAX_UNZIPPED_MB to allow it"
    )
    assert result["seconds"] < 20 and peak_mb < CHILD_MB + 60, (result, peak_mb)


def test_a_pdf_inflating_within_the_budget_is_read_and_a_shared_stream_counts_each_page(
    tmp_path: Path,
) -> None:
    limits = Limits(max_unzipped_bytes=8 * MB)
    sections = load(pdf_stream_bomb(tmp_path / "fits.pdf", 2 * MB, pages=3), limits=limits).sections
    assert [s.text.strip() for s in sections] == [f"Page {n} of the bomb." for n in (1, 2, 3)]
    # each page inflates the one stream again: twenty pages would inflate it twenty times
    shared = pdf_stream_bomb(tmp_path / "shared.pdf", 3 * MB, pages=20, shared=True)
    with pytest.raises(LoaderError, match=r"inflate past the 8\.0 MB limit by page 3 \(a stream bomb\?\)"):
        list(load(shared, limits=limits).sections)


def test_a_form_xobject_counts_each_time_a_page_draws_it(tmp_path: Path) -> None:
    # pypdf parses a form again for every `Do`: a 60 MB form drawn by 100 pages took 200 s before
    limits = Limits(max_unzipped_bytes=8 * MB)
    fits = pdf_form_bomb(tmp_path / "fits.pdf", 1 * MB, pages=3, draws=2)  # 6 MB drawn in all
    assert [s.text.split("\n")[0] for s in load(fits, limits=limits).sections] == [
        f"Page {n} draws the form." for n in (1, 2, 3)
    ]
    over = r"inflate past the 8\.0 MB limit by page {} \(a stream bomb\?\)"
    with pytest.raises(LoaderError, match=over.format(4)):
        list(load(pdf_form_bomb(tmp_path / "pages.pdf", 2 * MB, pages=20), limits=limits).sections)
    with pytest.raises(LoaderError, match=over.format(1)):
        list(load(pdf_form_bomb(tmp_path / "draws.pdf", 1 * MB, pages=1, draws=5000), limits=limits).sections)


def test_a_form_xobject_bomb_fails_the_pdf_though_pypdf_only_warns(tmp_path: Path) -> None:
    bomb = pdf_form_bomb(tmp_path / "form.pdf", GB, pages=100)
    started = time.perf_counter()
    # before: pypdf warned and left the form out, trying it again on each page (100 pages: 12.5 s)
    with pytest.raises(
        LoaderError, match=r"^page 1: a compressed stream inflates past 71\.5 MB, pypdf's limit"
    ):
        list(load(bomb).sections)
    assert time.perf_counter() - started < 10


# --- wide HTML -----------------------------------------------------------------------------------

WIDE = (
    "HTML of over 200,000 elements (attributes counted as elements); raise RAG_MAX_HTML_ELEMENTS to allow it"
)


def test_html_of_two_million_sibling_elements_fails_before_its_tree_is_built(tmp_path: Path) -> None:
    result, peak_mb = load_in_child(wide_html(tmp_path / "wide.html", 2_000_000))  # 16 MB
    # before: BeautifulSoup built all two million elements, 50 s and 2.9 GB
    assert result["error"] == WIDE
    assert result["seconds"] < 10 and peak_mb < CHILD_MB, (result, peak_mb)  # measured: 0.4 s, 75 MB


def test_one_element_of_a_million_attributes_fails_before_lxml_reads_its_start_tag(tmp_path: Path) -> None:
    result, peak_mb = load_in_child(attributes_html(tmp_path / "attributes.html", 1_000_000))  # 11 MB
    # before: 2 s and 437 MB (5 million in 59 MB: 17 s and 1.8 GB); counted in its text, not by lxml
    assert result["error"] == WIDE
    assert result["seconds"] < 10 and peak_mb < CHILD_MB, (result, peak_mb)


def test_html_under_the_element_limit_is_read_and_a_long_data_uri_is_one_attribute(tmp_path: Path) -> None:
    limits = Limits(max_html_elements=1000)
    # html, body, div and 997 paragraphs: 1,000 elements
    assert (
        load(wide_html(tmp_path / "fits.html", 997), limits=limits).sections.__next__().text.count("x") == 997
    )
    with pytest.raises(LoaderError, match=r"HTML of over 1,000 elements"):
        load(wide_html(tmp_path / "over.html", 998), limits=limits)
    with pytest.raises(LoaderError, match=r"HTML of over 1,000 elements"):
        load(attributes_html(tmp_path / "attributes.html", 998), limits=limits)  # a 7 KB start tag
    with pytest.raises(LoaderError, match=r"HTML of over 1,000 elements"):
        load(attributes_html(tmp_path / "long.html", 20_000), limits=limits)  # a 208 KB one, counted in text
    image = "data:image/png;base64," + "QUJD" * 100_000  # a 400 KB inline image: one attribute
    page = tmp_path / "inline.html"
    page.write_text(f'<html><body><p>Before</p><img alt="a b = c" src="{image}"><p>after.</p></body></html>')
    assert " ".join(load(page, limits=Limits(max_html_elements=7)).sections.__next__().text.split()) == (
        "Before after."
    )


def test_a_huge_flat_html_file_is_bounded_by_the_file_size_limit(tmp_path: Path) -> None:
    """No element limit is needed for one long text: its cost follows the file's size, which
    RAG_MAX_FILE_MB bounds (95 MB of words: 0.5 s at 407 MB, before and after)."""
    page = tmp_path / "flat.html"
    page.write_text("<html><body><p>" + "word " * 4_000_000 + "</p></body></html>")  # 20 MB
    result, peak_mb = load_in_child(page)
    assert result == {"sections": 1, "rows": 0}
    assert peak_mb < CHILD_MB + 5 * 20, peak_mb
    with pytest.raises(
        LoaderError, match=r"file is 19\.1 MB, over the 16\.0 MB limit; raise RAG_MAX_FILE_MB"
    ):
        load(page, max_bytes=16 << 20)


# --- content that is not what its extension says -----------------------------------------------


def _pdf(path: Path) -> Path:
    write_pdf(path, ["A page of text."])
    return path


def _docx(path: Path) -> Path:
    write_docx(path, ["A paragraph."])
    return path


@pytest.mark.parametrize(
    ("name", "build", "reason"),
    [
        ("report.docx", _pdf, r"not a valid \.docx file \(content is PDF\)"),
        ("report.pdf", _docx, r"not a PDF \(content is a Word document\)"),
        ("sheet.xlsx", _docx, r"not a valid \.xlsx file \(content is a Word document\)"),
        ("memo.docx", lambda p: xlsx_rows(p, 3), r"not a valid \.docx file \(content is an Excel workbook\)"),
        ("notes.txt", _docx, r"binary content \(a Word document\) in a \.txt file"),
        ("page.json", None, r"not JSON \(content is HTML\)"),
        ("table.csv", None, r"not CSV \(content is HTML\)"),
        ("data.json", "xml", r"not JSON \(content is XML\)"),
    ],
)
def test_a_file_of_another_type_than_its_extension_is_named_for_what_it_is(
    tmp_path: Path, name: str, build: Any, reason: str
) -> None:
    path = tmp_path / name
    if build is None:
        path.write_text("\ufeff\n  <!DOCTYPE html><html><body><p>A page.</p></body></html>")
    elif build == "xml":
        path.write_text('<?xml version="1.0"?><root><a>1</a></root>')
    else:
        built = build(tmp_path / f"built{Path(name).suffix}.tmp")
        built.rename(path)
    with pytest.raises(LoaderError, match=reason + ".*check the file's extension"):
        load(path)


def test_a_plain_zip_named_pdf_or_docx_says_it_is_a_zip(tmp_path: Path) -> None:
    for name in ("archive.pdf", "archive.docx"):
        with zipfile.ZipFile(tmp_path / name, "w") as archive:
            archive.writestr("readme.txt", "hello")
        with pytest.raises(LoaderError, match=r"content is a zip archive\)"):
            load(tmp_path / name)


# --- through the pipeline: failed alone, nothing stored, nothing lost ---------------------------


@pytest.fixture(params=["embedded", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    sql_url = ""
    if request.param == "postgres":
        sql_url = create_database(request.getfixturevalue("postgres_url"), "hostile")
    yield Settings(data_dir=tmp_path / "data", sql_url=sql_url)


def _run(settings: Settings, embedder: Embedder, folder: Path, limits: Limits) -> IngestSummary:
    with open_test_stores(settings) as stores:
        return ingest_pipeline(stores, embedder, limits=limits).run([folder], "kb")


def _stored(settings: Settings) -> dict[str, Any]:
    """Per source: status, chunk count, error; and the KB's totals."""
    with open_test_stores(settings) as stores, stores.sql.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT source, status, chunk_count, error FROM documents WHERE kb = 'kb'")
        )
        documents = {Path(r.source).name: (r.status, r.chunk_count, r.error) for r in rows}
        chunks = conn.scalar(sa.text("SELECT count(*) FROM chunks WHERE kb = 'kb'"))
        report = stores.status("kb")
    return {
        "documents": documents,
        "chunks": chunks,
        "vectors": report["vectors"],
        "tables": report["tables"],
    }


def test_hostile_files_fail_alone_and_leave_what_is_stored_untouched(
    settings: Settings, embedder: Embedder, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "guide.md").write_text("# Guide\n\nThe Oslo office opens at nine and closes at five.")
    (folder / "staff.csv").write_text("name,city\nAda,London\nAlan,Wilmslow\n")
    limits = Limits(
        max_unzipped_bytes=64 << 20,
        max_zip_entries=1000,
        max_table_rows=1000,
        max_pdf_pages=100,
        max_html_elements=10_000,
    )
    first = _run(settings, embedder, folder, limits)
    assert (first.new, first.failed) == (2, 0)
    before = _stored(settings)

    docx_bomb(folder / "bomb.docx", 256 << 20)
    docx_bomb(folder / "liar.docx", 256 << 20, declared=1000)
    xlsx_rows(folder / "rows.xlsx", 1001)
    pdf_pages(folder / "manual.pdf", 101)
    deep_json(folder / "deep.json", 100_000)
    deep_html(folder / "deep.html", 100_000)
    _pdf(tmp_path / "real.pdf").rename(folder / "really-a-pdf.docx")
    (folder / "page.json").write_text("<!doctype html><html><body>not json</body></html>")
    (folder / "binary.txt").write_bytes(b"\xd6" * 5000)  # read as GB18030: "种种种…"
    docx_entries(folder / "entries.docx", 1001)
    pdf_stream_bomb(folder / "stream-bomb.pdf", 256 << 20)
    wide_html(folder / "wide.html", 20_000)
    second = _run(settings, embedder, folder, limits)

    reasons = {Path(f.source).name: f.error for f in second.failures}
    expected = {
        "bomb.docx": "('word/document.xml' alone 256.0 MB), over the 64.0 MB limit (a zip bomb?)",
        "liar.docx": "Bad CRC-32 for file 'word/document.xml'",
        "rows.xlsx": "the workbook has over 1,000 rows",
        "manual.pdf": "PDF of 101 pages, over the 100 limit",
        "deep.json": "JSON nested deeper than the parser reads",
        "deep.html": "HTML nested over 512 levels deep",
        "really-a-pdf.docx": "content is PDF",
        "page.json": "not JSON (content is HTML)",
        "binary.txt": "binary content: a pattern of 1 byte(s) repeated",
        "entries.docx": "the archive lists 1,018 entries, over the 1,000 limit",
        "stream-bomb.pdf": "the PDF's compressed streams inflate past the 64.0 MB limit by page 1",
        "wide.html": "HTML of over 10,000 elements",
    }
    assert set(reasons) == set(expected) and (second.new, second.unchanged) == (0, 2), second
    for name, reason in expected.items():
        assert reason in reasons[name], (name, reasons[name])
    after = _stored(settings)
    for name in expected:  # in the ledger as failed, with the reason, and nothing of them stored
        status, chunks, error = after["documents"].pop(name)
        assert (status, chunks) == ("failed", 0) and expected[name] in error
    assert after == before  # the documents stored before, their chunks, vectors and tables


def test_file_names_no_store_can_hold_are_reported_and_the_rest_ingested(
    embedder: Embedder, tmp_path: Path
) -> None:
    folder = tmp_path / "names"
    folder.mkdir()
    (folder / "fine.txt").write_text("The Lisbon office has a rooftop garden.")
    (folder / os.fsdecode(b"caf\xe9.txt")).write_text("a Latin-1 name")  # not UTF-8: lone surrogate
    (folder / "red\x1b[31m.txt").write_text("an escape code")
    (folder / "two\nlines.txt").write_text("a newline")
    (folder / ("a" * 251 + ".txt")).write_text("the longest name a Linux file system holds")
    settings = Settings(data_dir=tmp_path / "data")
    summary = _run(settings, embedder, folder, Limits())  # stopped the whole run with a traceback before
    failures = {f.source.removeprefix(f"{folder}/"): f.error for f in summary.failures}
    control = "the file name holds control characters (a newline, an escape code); rename the file"
    assert failures == {
        "caf\\udce9.txt": "the file name is not valid UTF-8; rename the file",
        "red\\x1b[31m.txt": control,
        "two\\nlines.txt": control,
    }
    assert (summary.new, summary.failed) == (2, 3)
    documents = _stored(settings)["documents"]
    assert documents.keys() == {"fine.txt", "a" * 251 + ".txt"}
    assert {status for status, _, _ in documents.values()} == {"done"}


@pytest.mark.slow
def test_rag_ingest_of_a_3_gb_docx_bomb_stays_small(tmp_path: Path) -> None:
    """The whole command, as a user runs it: the figure docs/reliability.md quotes."""
    bomb = docx_bomb(tmp_path / "bomb.docx", 3 * GB)
    started = time.perf_counter()
    code, output, peak_mb = measured(
        [sys.executable, "-m", "rag", "ingest", str(bomb), "--kb", "bombs", "--json"],
        child_env(RAG_DATA_DIR=str(tmp_path / "data")),
    )
    seconds, summary = time.perf_counter() - started, json.loads(output)
    assert code == 1  # a file failed
    assert summary["failed"] == 1 and "a zip bomb?" in summary["failures"][0]["error"]
    # before: 6.4 GB and 32 s; the command's own imports are most of what is left
    assert peak_mb < 400 and seconds < 60, (peak_mb, seconds)


def test_symbolic_links_out_of_a_walked_folder_are_reported_and_not_followed(
    embedder: Embedder, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    (outside / "private").mkdir(parents=True)
    (outside / "passwd").write_text("root:x:0:0:SECRET-ROOT-LINE:/root:/bin/bash\n")
    (outside / "private" / "diary.md").write_text("SECRET-DIARY-LINE")
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "guide.md").write_text("# Guide\n\nThe Oslo office opens at nine.")
    (folder / "passwd.txt").symlink_to(outside / "passwd")  # a file out of the folder
    (folder / "sub" / "relative.txt").symlink_to("../../outside/passwd")  # the same, relative
    (folder / "private").symlink_to(outside / "private", target_is_directory=True)  # a folder out
    (folder / "latest.md").symlink_to(folder / "guide.md")  # inside: the target is walked anyway
    (folder / "sub" / "up").symlink_to("..", target_is_directory=True)  # a loop, inside
    (folder / "self.md").symlink_to(folder / "self.md")  # a link to itself
    (folder / "gone.md").symlink_to(outside / "gone.md")  # dangling, out of the folder
    settings = Settings(data_dir=tmp_path / "data")
    started = time.perf_counter()
    summary = _run(settings, embedder, folder, Limits())
    assert time.perf_counter() - started < 60
    out = "a symbolic link out of the folder walked (to {}); not followed"
    assert {f.source: (f.stage, f.error) for f in summary.failures} == {
        f"{folder}/passwd.txt": ("read", out.format(outside / "passwd")),
        f"{folder}/sub/relative.txt": ("read", out.format(outside / "passwd")),
        f"{folder}/private": ("read", out.format(outside / "private")),
        f"{folder}/gone.md": ("read", out.format(outside / "gone.md")),
    }
    assert (summary.new, summary.failed) == (1, 4)
    stored = _stored(settings)
    assert stored["documents"] == {"guide.md": ("done", 1, None)}  # the link inside is not a second copy
    with open_test_stores(settings) as stores, stores.sql.engine.connect() as conn:
        texts = " ".join(conn.scalars(sa.text("SELECT text FROM chunks")))
    assert "Oslo" in texts and "SECRET" not in texts
