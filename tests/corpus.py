"""Builders of real input files, one per format, written at test time into a folder."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

#: what each good file of `write_corpus` says, so tests can look for it in the stores
FACTS = {
    "notes.txt": "Ada Lovelace works at Analytical Engines Ltd in London.",
    "guide.md": "The Kestrel Project was founded by Grace Hopper in Arlington.",
    "page.html": "Alan Turing joined Bletchley Park during the war.",
    "report.pdf": "Katherine Johnson worked at NASA Langley on orbital mechanics.",
    "memo.docx": "Edsger Dijkstra moved to Austin to teach at the University of Texas.",
    "bom.txt": "Barbara Liskov works at MIT in Cambridge.",
    "profile.json": "Claude Shannon",
}
CHINESE_GBK = "深圳办公室位于南山区科技园，负责人是陈伟。腾讯公司总部也在深圳。"


def write_pdf(path: Path, lines: list[str]) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    for line in lines:
        pdf.multi_cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))


def write_docx(path: Path, paragraphs: list[str]) -> None:
    import docx

    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    document.save(str(path))


def write_xlsx(path: Path) -> None:
    """Two sheets; the first with a two-row header whose top row is merged."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Revenue"
    sheet.append(["Region", "Sales", None])
    sheet.merge_cells("B1:C1")
    sheet.append([None, "Q1", "Q2"])
    sheet.append(["North", 1200, 1350])
    sheet.append(["South", 800, 950])
    staff = book.create_sheet("Staff")
    staff.append(["name", "joined", "salary"])
    staff.append(["Ana", "2021-03-01", 52000.5])
    staff.append(["Ben", "2022-11-15", 61000.25])
    book.save(str(path))


def write_corpus(folder: Path) -> dict[str, Path]:
    """One good file of every supported format and encoding; returns name → path."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}

    def put(name: str, data: bytes) -> None:
        files[name] = folder / name
        files[name].write_bytes(data)

    filler = " The archive holds letters, drafts and notes from many years of work."
    put("notes.txt", (FACTS["notes.txt"] + filler * 3).encode())
    put("guide.md", f"# Kestrel\n\n## History\n\n{FACTS['guide.md']}{filler}\n".encode())
    put(
        "page.html",
        f"<html><head><title>Turing</title><script>var x=1;</script></head>"
        f"<body><nav>menu</nav><p>{FACTS['page.html']}</p></body></html>".encode(),
    )
    put("bom.txt", "\ufeff".encode() + FACTS["bom.txt"].encode())
    put("zh_gbk.txt", CHINESE_GBK.encode("gbk"))
    put(
        "sales.csv",
        b"region,amount,day\nNorth,1200.50,2024-01-02\nSouth,800.25,2024-01-03\nEast,,2024-01-04\n",
    )
    put(
        "people.json",
        json.dumps([{"name": "Ada", "age": 36}, {"name": "Alan", "age": 41}]).encode(),
    )
    put(
        "profile.json",
        json.dumps({"person": {"name": FACTS["profile.json"], "field": "information theory"}}).encode(),
    )
    files["report.pdf"] = folder / "report.pdf"
    write_pdf(files["report.pdf"], [FACTS["report.pdf"], "Page one of the report."])
    files["memo.docx"] = folder / "memo.docx"
    write_docx(files["memo.docx"], [FACTS["memo.docx"], "He wrote many notes by hand."])
    files["budget.xlsx"] = folder / "budget.xlsx"
    write_xlsx(files["budget.xlsx"])
    return files


def write_bad_files(folder: Path) -> dict[str, Path]:
    """Inputs that must each fail alone with a clear reason (size limit: see the tests)."""
    from pypdf import PdfReader, PdfWriter

    folder.mkdir(parents=True, exist_ok=True)
    files = {
        name: folder / name
        for name in ("empty.txt", "corrupt.pdf", "locked.pdf", "binary.txt", "broken.json")
    }
    files["empty.txt"].write_bytes(b"")
    files["corrupt.pdf"].write_bytes(b"%PDF-1.4\n1 0 obj<<>>\nthis is not really a pdf\n%%EOF")
    plain = folder / "plain.pdf.tmp"
    write_pdf(plain, ["secret text"])
    writer = PdfWriter()
    for page in PdfReader(str(plain)).pages:
        writer.add_page(page)
    writer.encrypt("hunter2")
    with files["locked.pdf"].open("wb") as handle:
        writer.write(handle)
    plain.unlink()
    files["binary.txt"].write_bytes(bytes(range(256)) * 64)
    files["broken.json"].write_bytes(b'{"a": 1,, "b": }')
    return files


def stable_folder(name: str) -> Path:
    """An empty folder at the same path on every run (under the system's temp folder).

    A document's id is a uuid5 of its path, and the names of its SQL tables carry that id, so files
    ingested from a fixed path give the model the same catalogue, and its greedy replies stay the
    same, run after run; from pytest's numbered temp folders they changed with every run.
    """
    folder = Path(tempfile.gettempdir()) / f"rag-tests-{name}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def depot_notes(folder: Path, count: int) -> Path:
    """`count` one-chunk notes, each with its own figures and names: a corpus small enough to
    ingest in seconds, large enough to be cut in the middle (the fault tests)."""
    folder.mkdir()
    for number in range(count):
        (folder / f"note-{number:02d}.txt").write_text(
            f"Depot {number} in Harbour Street keeps {number * 7 + 3} pallets of cedar planks. "
            f"Its manager, Ines Varga {number}, signs every delivery note before noon.\n"
        )
    return folder
