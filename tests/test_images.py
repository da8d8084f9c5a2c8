"""Images in fields, Markdown or raw `<img>`, are bundled from the deck's folder or refused.

Every image src that survives sanitising is checked, on the HTML a browser (and Anki) reads:
local files are bundled under a content-hashed name, anything leaving the deck's folder is a
located error, and only regular files are read, so a FIFO or a device never blocks the build.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from factdeck.build import build, check
from factdeck.render import Renderer

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16


def _deck(tmp_path: Path, field: str) -> Path:
    path = tmp_path / "deck.yaml"
    value = field.replace("\\", "\\\\").replace('"', '\\"')
    path.write_text(f'deck: {{id: d, name: D}}\nnotes:\n  - id: a\n    front: q\n    back: "{value}"\n')
    return path


def _errors(path: Path) -> list[str]:
    return [d.format() for d in check([str(path)]).errors]


def test_raw_img_is_bundled_like_a_markdown_image(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "pump.png").write_bytes(PNG)
    renderer = Renderer(str(tmp_path))
    raw, problems = renderer.field('<img src="images/pump.png" alt="pump">')
    markdown, _ = renderer.field("![pump](images/pump.png)")
    assert problems == ()
    name = next(iter(renderer.media))
    assert list(renderer.media) == [name] and name.startswith("factdeck-") and name.endswith(".png")
    assert f'src="{name}"' in raw and f'src="{name}"' in markdown


def test_raw_img_reaches_the_package_with_its_file(tmp_path):
    (tmp_path / "pump.png").write_bytes(PNG)
    path = _deck(tmp_path, 'See <img src="pump.png">')
    result = build([str(path)], output=tmp_path / "out.apkg", now=1_700_000_000)
    assert result.errors == []
    with zipfile.ZipFile(tmp_path / "out.apkg") as z:
        assert PNG in [z.read(n) for n in z.namelist()]


@pytest.mark.parametrize(
    "src",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "&#46;&#46;/outside.png",  # the entity decodes to `../outside.png` in the browser
        "%2e%2e/outside.png",
        "images/../../outside.png",
        "link.png",  # a symbolic link to a file outside the folder
    ],
)
def test_raw_img_leaving_the_deck_folder_is_a_located_error(tmp_path, src):
    deck_dir = tmp_path / "deck"
    deck_dir.mkdir()
    (tmp_path / "outside.png").write_bytes(PNG)
    (deck_dir / "link.png").symlink_to(tmp_path / "outside.png")
    path = _deck(deck_dir, f'<img src="{src}">')
    shown = src.replace("&#46;", ".")
    assert _errors(path) == [
        f"{path}:5:11: error: image `{shown}` is outside the deck's folder (in `back` of note `a`)"
    ]


def test_image_path_with_a_nul_byte_is_a_located_error(tmp_path, run):
    for field in ("![x](a%00.png)", '<img src="a%00b.png">'):
        path = _deck(tmp_path, field)
        result = run("check", path)
        assert result.exit_code == 1
        assert f"{path}:5:11: error: image `" in result.stderr and "NUL character" in result.stderr


def test_image_path_the_system_cannot_use_is_a_located_error(tmp_path):
    path = _deck(tmp_path, "![x](" + "a" * 5000 + ".png)")
    assert [e.split(": error: ")[0] for e in _errors(path)] == [f"{path}:5:11"]


def test_control_characters_in_an_image_path_are_escaped_in_the_message(tmp_path):
    path = _deck(tmp_path, '<img src="x&#27;[2J.png">')
    (error,) = _errors(path)
    assert "\x1b" not in error and "\\u001b[2J.png" in error


def _check_in_subprocess(path: Path) -> subprocess.CompletedProcess:
    """Run `factdeck check` in a child with a timeout, so that a build that blocks fails the test
    instead of hanging it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(
        [sys.executable, "-m", "factdeck", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_image_that_is_a_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe.png")
    path = _deck(tmp_path, "![x](pipe.png) and <img src=pipe.png>")
    proc = _check_in_subprocess(path)
    assert proc.returncode == 1
    assert (
        f"{path}:5:11: error: image `pipe.png` is not a regular file (a FIFO, device or socket); "
        "name an image file (in `back` of note `a`)"
    ) in proc.stderr


def test_image_that_is_a_device_is_refused_without_reading_it(tmp_path):
    try:
        os.mknod(tmp_path / "zero.png", 0o600 | 0o020000, os.makedev(1, 5))  # /dev/zero
    except (PermissionError, OSError):
        pytest.skip("cannot make a device node here")
    proc = _check_in_subprocess(_deck(tmp_path, "![x](zero.png)"))
    assert proc.returncode == 1 and "is not a regular file" in proc.stderr


def test_image_that_is_a_folder_is_a_located_error(tmp_path):
    (tmp_path / "dir.png").mkdir()
    path = _deck(tmp_path, '<img src="dir.png">')
    assert _errors(path) == [
        f"{path}:5:11: error: image `dir.png` is a folder; name an image file (in `back` of note `a`)"
    ]


SWAP_BEFORE_WRITE = r"""
import os, sys
import factdeck.ankifiles.package as package
kind, image = sys.argv[1], sys.argv[2]
real = package.write_collection
def write_collection(*args):  # the image was checked and hashed; now it is replaced
    real(*args)
    os.unlink(image)
    if kind == "fifo":
        os.mkfifo(image)
    elif kind == "folder":
        os.mkdir(image)
    else:
        os.symlink("/dev/zero", image)
package.write_collection = write_collection
sys.argv = ["factdeck", *sys.argv[3:]]
from factdeck.cli import main
main()
"""


@pytest.mark.parametrize(
    ("kind", "why"),
    [
        ("fifo", "it is now a FIFO, device or socket, not the regular file it was when checked"),
        ("folder", "it is now a folder, not the regular file it was when checked"),
        ("device-link", "it was replaced by a symbolic link since it was checked"),
    ],
)
def test_an_image_replaced_after_its_check_is_an_error_naming_it_and_nothing_is_written(tmp_path, kind, why):
    """The package writer opens each file once and checks what it opened: a FIFO in the
    image's place would hang the build, a link to a device would bundle whatever it gives."""
    (tmp_path / "pump.png").write_bytes(PNG)
    path = _deck(tmp_path, "![pump](pump.png)")
    out = tmp_path / "out.apkg"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "TMPDIR": str(tmp_path)}
    args = [kind, str(tmp_path / "pump.png"), "build", str(path), "-o", str(out)]
    proc = subprocess.run(
        [sys.executable, "-c", SWAP_BEFORE_WRITE, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == (
        f"{out}: error: cannot write {out}: cannot read {tmp_path / 'pump.png'} (bundled by {path}): {why}\n"
        "1 error\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deck.yaml", "pump.png"]  # no package, no lock


def test_remote_images_are_left_to_the_sanitiser(tmp_path):
    renderer = Renderer(str(tmp_path))
    html, problems = renderer.field('<img src="https://example.org/a.png">')
    assert problems == () and renderer.media == {}
    assert 'src="https://example.org/a.png"' in html


@pytest.mark.parametrize(
    "image",
    ["![x](data:image/png;base64,iVBORw0KGgo=)", '<img src="data:image/png;base64,AA">', "![x](DATA:,x)"],
)
def test_a_data_image_in_a_markdown_field_is_a_located_error_not_dropped_silently(tmp_path, image):
    """The card would lose its picture, so the build stops; an html field keeps data: images."""
    assert _errors(_deck(tmp_path, f"see {image}")) == [
        f"{tmp_path / 'deck.yaml'}:5:11: error: an image given as a `data:` address is dropped from a Markdown "
        "field: save it as a file beside the deck and name it (factdeck bundles it), or use a `format: html` "
        "field (in `back` of note `a`)"
    ]
    assert "data:" not in Renderer(str(tmp_path)).field(image)[0]
