"""The sdist and the wheel: built with `python -m build`, checked by twine, installed and run.

The wheel is installed into a fresh venv (``python -m venv``; pip fetches the dependencies from
PyPI or its cache) and must produce, from the shipped deck, the same package, preview and schema
as this checkout. That proves the CSS, JSON, schema and preview assets travel in the wheel.
Deselect with ``-m 'not packaging'`` for a quick run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from factdeck import build as pipeline
from factdeck.preview import write_site
from factdeck.schema import schema_text

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.packaging

_NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    "dist",
    "build",
    "preview",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    ".hypothesis",
    "work",
    ".venv*",
    "node_modules",
)


def run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{args}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sdist and wheel of this source tree as it is now (copied, so the checkout stays clean)."""
    tmp = tmp_path_factory.mktemp("dist")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=_NOT_SOURCE)
    run(sys.executable, "-m", "build", "--outdir", tmp / "out", src)  # the wheel is built from the sdist
    return tmp / "out"


def only(folder: Path, pattern: str) -> Path:
    (found,) = folder.glob(pattern)
    return found


def test_sdist_and_wheel_pass_twine_check(dist: Path):
    out = run(sys.executable, "-m", "twine", "check", "--strict", *sorted(dist.iterdir()))
    assert out.count("PASSED") == 2, out


def test_wheel_metadata_names_license_urls_and_classifiers(dist: Path):
    with zipfile.ZipFile(only(dist, "*.whl")) as whl:
        meta = whl.read("factdeck-0.1.0.dist-info/METADATA").decode()
        names = whl.namelist()
    assert "License-Expression: MIT" in meta
    assert "factdeck-0.1.0.dist-info/licenses/LICENSE" in names
    assert "Project-URL: Repository, https://github.com/factdeck/factdeck" in meta
    assert "Classifier: Programming Language :: Python :: 3.11" in meta
    assert "Description-Content-Type: text/markdown" in meta
    assert "Requires-Python: >=3.11" in meta


def test_wheel_carries_every_package_file(dist: Path):
    """CSS, JSON and preview assets included: whatever lies in src/factdeck is in the wheel."""
    package = ROOT / "src" / "factdeck"
    wanted = {
        "factdeck/" + p.relative_to(package).as_posix()
        for p in package.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")
    }
    assert {
        "factdeck/card.css",
        "factdeck/preview_assets/preview.js",
        "factdeck/preview_assets/preview.css",
    } <= wanted
    with zipfile.ZipFile(only(dist, "*.whl")) as whl:
        assert wanted <= set(whl.namelist()), wanted - set(whl.namelist())


def test_sdist_holds_what_the_tests_and_the_shipped_deck_need(dist: Path):
    with tarfile.open(only(dist, "*.tar.gz")) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    for name in (
        "LICENSE",
        "README.md",
        "tests/conftest.py",
        "decks/spasticity.yaml",
        "decks/spasticity.lock",
        "schema/factdeck-deck.schema.json",
        ".pre-commit-hooks.yaml",
        "src/factdeck/preview_assets/preview.js",
    ):
        assert name in names, name


@pytest.fixture(scope="module")
def installed(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed (no anki, no test extras); returns its bin folder."""
    venv = tmp_path_factory.mktemp("venv") / "v"
    run(sys.executable, "-m", "venv", venv)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    run(bin_dir / "python", "-m", "pip", "install", "--quiet", only(dist, "*.whl"))
    return bin_dir


def test_installed_wheel_builds_the_shipped_deck_as_this_checkout_does(installed: Path, tmp_path: Path):
    shutil.copytree(ROOT / "decks", tmp_path / "decks")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the venv's factdeck only
    env["SOURCE_DATE_EPOCH"] = "1800000000"
    factdeck = installed / "factdeck"
    assert "0.1.0" in run(factdeck, "--version", env=env)
    run(factdeck, "build", "-q", "decks", "-o", tmp_path / "wheel.apkg", cwd=tmp_path, env=env)
    run(factdeck, "build", "--locked", "decks", cwd=tmp_path, env=env)  # the lock it wrote is current

    ours = pipeline.build([str(tmp_path / "decks")], output=tmp_path / "checkout.apkg", now=1800000000)
    assert not ours.errors, ours.errors
    assert (tmp_path / "wheel.apkg").read_bytes() == (tmp_path / "checkout.apkg").read_bytes()

    run(factdeck, "preview", "decks", "-o", tmp_path / "wheel-site", cwd=tmp_path, env=env)
    cwd = os.getcwd()
    os.chdir(tmp_path)  # the page names deck files as given on the command line
    try:
        write_site(pipeline.check(["decks"]).decks, tmp_path / "checkout-site")
    finally:
        os.chdir(cwd)
    wheel_page = (tmp_path / "wheel-site" / "index.html").read_text(encoding="utf-8")
    assert wheel_page == (tmp_path / "checkout-site" / "index.html").read_text(encoding="utf-8")
    assert "Content-Security-Policy" in wheel_page and "fd-preview-data" in wheel_page

    assert run(factdeck, "schema", env=env) == schema_text()
