"""The layers of docs/architecture.md hold: import-linter's contract in pyproject.toml passes on the
tree, fails when a module imports upward, and names every package of the project."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rag", "ingest", "api")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

pytestmark = pytest.mark.fast


def _layers() -> list[list[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (contract,) = [c for c in config["tool"]["importlinter"]["contracts"] if c["id"] == "layers"]
    return [[name.strip() for name in layer.split("|")] for layer in contract["layers"]]


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports over the packages under `root` (first on the path, ahead of the editable install)."""
    if not LINT_IMPORTS.exists():
        pytest.skip("import-linter is not installed: pip install -e '.[test]'")
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_tree_keeps_the_layers() -> None:
    done = _lint(ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 kept, 0 broken" in done.stdout


def test_an_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    """A store that imports the answer flow (an upward import) is caught and named."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    factory = tmp_path / "rag" / "stores" / "factory.py"
    factory.write_text(factory.read_text() + "\nfrom rag.answer import pipeline  # upward\n")

    done = _lint(tmp_path)

    assert done.returncode != 0
    assert "BROKEN" in done.stdout
    assert "rag.stores.factory -> rag.answer.pipeline" in done.stdout


def test_every_package_has_a_layer() -> None:
    """A new top-level module or package must be placed in a layer, or the contract would not see it."""
    named = {name for layer in _layers() for name in layer}
    found = {"ingest", "api"}
    for child in (ROOT / "rag").iterdir():
        if child.name.startswith("_") and child.name != "__main__.py":
            continue
        if child.is_dir() and (child / "__init__.py").exists():
            found.add(f"rag.{child.name}")
        elif child.suffix == ".py":
            found.add(f"rag.{child.stem}")
    assert found - named == set(), "place these in a layer of pyproject.toml's contract"
    assert named - found == set(), "these layers name modules that no longer exist"
