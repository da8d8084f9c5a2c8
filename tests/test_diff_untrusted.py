"""`factdeck diff` against packages exported by Anki itself, and against hostile packages."""

from __future__ import annotations

import json
import os
import sqlite3
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import SIMPLE_DECK
from factdeck import build as pipeline
from factdeck.ankifiles import collection as anki_reader

EDITED = SIMPLE_DECK.replace("back: GABA-B receptor (agonist)", "back: GABA-B receptor agonist").replace(
    "  - id: dantrolene-site\n    front: Where does dantrolene act?\n"
    "    back: Skeletal muscle (ryanodine receptor)\n    sources: [label]\n",
    "",
)


def built_package(deck, tmp_path, name="old.apkg"):
    result = pipeline.build([str(deck)], output=tmp_path / name, now=1700000000)
    assert not result.errors, result.diagnostics
    return tmp_path / name


def anki_export(col, path, legacy):
    """The whole collection exported by Anki, as its Export dialog would."""
    from anki.collection import ExportAnkiPackageOptions

    options = ExportAnkiPackageOptions(
        with_scheduling=False, with_deck_configs=False, with_media=True, legacy=legacy
    )
    col.col.export_anki_package(out_path=str(path), options=options, limit=None)
    return path


@pytest.fixture
def modern(write_deck, tmp_path, anki):
    """The demo deck built, imported into Anki, studied, and exported in Anki's default format."""
    deck = write_deck(SIMPLE_DECK)
    col = anki()
    col.import_package(built_package(deck, tmp_path))
    col.review_all()
    path = anki_export(col, tmp_path / "exported.apkg", legacy=False)
    with zipfile.ZipFile(path) as zf:
        assert {"collection.anki21b", "collection.anki2"} <= set(zf.namelist())
    return deck, path


def test_diff_reads_a_package_in_ankis_modern_format_like_the_package_it_came_from(modern, run, write_deck):
    deck, exported = modern
    same = run("diff", exported, deck)
    assert same.exit_code == 0, same.output
    assert same.stdout == "demo: Demo::Pharmacology\n0 added, 0 changed, 0 removed\n"
    write_deck(EDITED)
    edited = run("diff", exported, deck)
    assert edited.exit_code == 0, edited.output
    assert edited.stdout.startswith(
        "demo: Demo::Pharmacology\n~ baclofen-moa (Back)\n- dantrolene-site\n0 added, 1 changed, 1 removed\n"
    )


def test_diff_of_a_modern_package_without_the_anki_library_refuses_and_says_how_to_install_it(
    modern, run, monkeypatch
):
    deck, exported = modern
    monkeypatch.setitem(sys.modules, "anki", None)  # `import anki...` now raises ImportError
    monkeypatch.setitem(sys.modules, "anki.collection", None)
    result = run("diff", exported, deck)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "collection.anki21b" in result.stderr
    assert "pip install 'factdeck[anki]'" in result.stderr


def test_diff_still_reads_legacy_packages_without_the_anki_library(write_deck, tmp_path, run, monkeypatch):
    deck = write_deck(SIMPLE_DECK)
    old = built_package(deck, tmp_path)
    monkeypatch.setitem(sys.modules, "anki", None)
    monkeypatch.setitem(sys.modules, "anki.collection", None)
    result = run("diff", old, deck)
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("0 added, 0 changed, 0 removed\n")


# --- hostile packages ------------------------------------------------------------------------------


BASIC_MODELS = {"5": {"name": "Basic", "flds": [{"name": "Front"}, {"name": "Back"}, {"name": "ID"}]}}


def legacy_collection(notes, models=None, decks=None):
    """A minimal legacy collection (the tables diff reads), as bytes."""
    db = sqlite3.connect(":memory:")
    db.executescript(
        "CREATE TABLE col (id, models, decks);"
        "CREATE TABLE notes (id, guid, mid, flds, tags);"
        "CREATE TABLE cards (id, nid, did, ord);"
    )
    db.execute(
        "INSERT INTO col VALUES (1, ?, ?)",
        (
            models if isinstance(models, str) else json.dumps(models or {}),
            decks if isinstance(decks, str) else json.dumps(decks or {"1": {"name": "Old deck"}}),
        ),
    )
    for i, (guid, flds) in enumerate(notes, 1):
        db.execute("INSERT INTO notes VALUES (?, ?, 5, ?, '')", (i, guid, flds))
        db.execute("INSERT INTO cards VALUES (?, ?, 1, 0)", (i, i))
    db.commit()
    return db.serialize()


def zip_of(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_text_from_an_old_package_reaches_the_terminal_escaped(write_deck, tmp_path, run):
    deck = write_deck(SIMPLE_DECK)
    hostile = "x\x1b]0;pwned\x07\x1b[2J\nforged line\u202e\x9b"
    old = zip_of(
        tmp_path / "old.apkg",
        {
            "collection.anki2": legacy_collection(
                [("g1", f"q\x1fa\x1f{hostile}")],
                models=BASIC_MODELS,
                decks={"1": {"name": f"Deck\x1b[31m{hostile}"}},
            )
        },
    )
    result = run("diff", old, deck)
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout and "\x9b" not in result.stdout
    assert "- x\\x1b]0;pwned\\x07\\x1b[2J\\nforged line\\u202e\\x9b\n" in result.stdout
    assert "Deck\\x1b[31mx" in result.stdout
    assert "\nforged line" not in result.stdout
    as_json = run("diff", old, deck, "--format", "json")
    assert "\x9b" not in as_json.stdout and "\u202e" not in as_json.stdout
    removed = json.loads(as_json.stdout)["decks"][-1]["removed"]
    assert removed == [hostile]  # the JSON keeps the exact text, escaped the JSON way


def bad_package(kind, tmp_path):
    path = tmp_path / "bad.apkg"
    if kind == "empty collection.anki2":
        return zip_of(path, {"collection.anki2": b""})
    if kind == "empty collection.anki21":
        return zip_of(path, {"collection.anki2": b"stub", "collection.anki21": b""})
    if kind == "nested note types":
        return zip_of(path, {"collection.anki2": legacy_collection([], models="[" * 100_000 + "]" * 100_000)})
    if kind == "nested decks":
        return zip_of(
            path, {"collection.anki2": legacy_collection([], decks='{"a":' * 50_000 + "1" + "}" * 50_000)}
        )
    if kind == "note types not JSON":
        return zip_of(path, {"collection.anki2": legacy_collection([], models="{not json")})
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind, message",
    [
        ("empty collection.anki2", "collection.anki2 is empty or cut short"),
        ("empty collection.anki21", "collection.anki21 is empty or cut short"),
        ("nested note types", "its note types are nested too deeply"),
        ("nested decks", "its decks are nested too deeply"),
        ("note types not JSON", "its note types are not valid JSON"),
    ],
)
def test_a_damaged_legacy_package_is_an_error_not_a_crash(write_deck, tmp_path, run, kind, message):
    deck = write_deck(SIMPLE_DECK)
    bad = bad_package(kind, tmp_path)
    result = run("diff", bad, deck)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr.startswith(f"{bad}: error: ") and message in result.stderr


def test_wrong_types_in_an_old_packages_decks_are_read_as_far_as_they_make_sense(write_deck, tmp_path, run):
    deck = write_deck(SIMPLE_DECK)
    models = {
        "5": {"name": "Basic", "sortf": "x", "flds": [{"name": "Front"}, {"name": "Back"}, {"name": "Z"}]}
    }
    old = zip_of(
        tmp_path / "old.apkg",
        {"collection.anki2": legacy_collection([("g1", "a\x1fb\x1fc")], models=models, decks={"1": []})},
    )
    result = run("diff", old, deck)
    assert result.exit_code == 0, result.output
    assert "deck 1 (deck not in this build)\n- a (guid g1)\n" in result.stdout  # named by its sort field


def _good_package(write_deck, tmp_path, run) -> tuple[Path, bytes]:
    deck = write_deck(SIMPLE_DECK)
    assert run("build", deck, "-o", tmp_path / "good.apkg").exit_code == 0
    with zipfile.ZipFile(tmp_path / "good.apkg") as zf:
        return deck, zf.read("collection.anki2")


@pytest.mark.parametrize(
    "damage, message",
    [
        ("DELETE FROM col", "its `col` table has no row (no note types)"),
        ("""UPDATE col SET models = '{"1": {"flds": 5}}'""", "which it does not have"),
        ("UPDATE col SET models = '[]'", "which it does not have"),
        (
            "UPDATE notes SET mid = 9223372036854775807",
            "uses note type 9223372036854775807, which it does not have",
        ),
        (
            """UPDATE col SET models = json_set(models, '$.' || (SELECT mid FROM notes LIMIT 1) || '.flds', json('5'))""",
            "which has no name or fields",
        ),
        (
            """UPDATE col SET models = json_set(models, '$.' || (SELECT mid FROM notes LIMIT 1) || '.flds[0].name', 7)""",
            "whose fields have no names",
        ),
        ("UPDATE notes SET flds = flds || char(31) || 'extra'", "fields, but the note"),
    ],
)
def test_an_old_package_whose_note_types_are_damaged_is_refused(write_deck, tmp_path, run, damage, message):
    """A diff against note types it cannot read would report every note as changed, exit 0."""
    deck, collection = _good_package(write_deck, tmp_path, run)
    db = sqlite3.connect(":memory:")
    db.deserialize(collection)
    db.execute(damage)
    db.commit()
    bad = zip_of(tmp_path / "bad.apkg", {"collection.anki2": db.serialize(), "media": "{}"})
    result = run("diff", bad, deck)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert (
        result.stderr.startswith(f"{bad}: error: not a readable Anki collection: ")
        and message in result.stderr
    )
    assert len(result.stderr.splitlines()) == 2  # the error, then the count


def test_the_undamaged_package_diffs_clean(write_deck, tmp_path, run):
    deck, collection = _good_package(write_deck, tmp_path, run)
    result = run(
        "diff", zip_of(tmp_path / "same.apkg", {"collection.anki2": collection, "media": "{}"}), deck
    )
    assert result.exit_code == 0 and "0 added, 0 changed, 0 removed" in result.stdout, result.output


# Anki's modern packages: zstd frames. A frame of RLE blocks unpacks to any size from a few bytes.
def zstd_frame(data: bytes) -> bytes:
    """``data`` as one zstd frame of raw (stored) blocks: valid zstd, no compressor needed."""
    out = bytearray(b"\x28\xb5\x2f\xfd\x00\x58")  # magic; no content size; window 8 MiB
    chunks = [data[i : i + (128 << 10)] for i in range(0, len(data), 128 << 10)] or [b""]
    for i, chunk in enumerate(chunks):
        out += struct.pack("<I", (i == len(chunks) - 1) | (len(chunk) << 3))[:3] + chunk
    return bytes(out)


def zstd_bomb(size: int) -> bytes:
    """A zstd frame that unpacks to ``size`` zero bytes from 4 bytes per 128 KiB."""
    out = bytearray(b"\x28\xb5\x2f\xfd\x00\x38")
    blocks = -(-size // (128 << 10))
    for i in range(blocks):
        out += struct.pack("<I", (i == blocks - 1) | (1 << 1) | ((128 << 10) << 3))[:3] + b"\x00"
    return bytes(out)


MODERN_META = b"\x08\x03"  # PackageMetadata{version: VERSION_LATEST}


def test_a_zstd_bomb_in_a_modern_package_is_refused_before_it_fills_the_disk(
    write_deck, tmp_path, run, monkeypatch
):
    monkeypatch.setattr(anki_reader, "MAX_FILE", 4 << 20)
    deck = write_deck(SIMPLE_DECK)
    bomb = zip_of(
        tmp_path / "bomb.apkg",
        {"meta": MODERN_META, "collection.anki2": b"stub", "collection.anki21b": zstd_bomb(64 << 20)},
    )
    assert bomb.stat().st_size < 10_000
    result = run("diff", bomb, deck)
    assert result.exit_code == 1, result.output
    assert "unpacks to more than 4 MiB" in result.stderr


@pytest.mark.parametrize("cut", [10, 1000, -5])
def test_a_truncated_modern_collection_is_an_error(modern, run, tmp_path, cut):
    deck, exported = modern
    with zipfile.ZipFile(exported) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    members["collection.anki21b"] = members["collection.anki21b"][:cut]
    bad = zip_of(tmp_path / "cut.apkg", members)
    result = run("diff", bad, deck)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"{bad}: error: Anki could not read the package")


def test_a_modern_package_whose_collection_is_not_zstd_is_an_error(write_deck, tmp_path, run):
    deck = write_deck(SIMPLE_DECK)
    bad = zip_of(
        tmp_path / "bad.apkg",
        {"meta": MODERN_META, "collection.anki2": b"stub", "collection.anki21b": b"\x00" * 500},
    )
    result = run("diff", bad, deck)
    assert result.exit_code == 1, result.output
    assert "Anki could not read the package" in result.stderr


@pytest.mark.parametrize(
    "name",
    ["fine.png", "../../escaped.png", "/tmp/absolute.png", "a/b.png", "con\x00.png", ".", "", "\x1b[2J.png"],
)
def test_odd_media_names_in_a_package_never_write_outside_its_folder(modern, run, tmp_path, name):
    deck, exported = modern
    from anki.import_export_pb2 import MediaEntries

    with zipfile.ZipFile(exported) as zf:
        members = {n: zf.read(n) for n in zf.namelist() if n not in ("media",) and not n.isdigit()}
    sha1 = __import__("hashlib").sha1(b"abc").digest()
    entries = MediaEntries(entries=[MediaEntries.MediaEntry(name=name, size=3, sha1=sha1)])
    members["media"] = zstd_frame(entries.SerializeToString())
    members["0"] = zstd_frame(b"abc")
    bad = zip_of(tmp_path / "media.apkg", members)
    result = run("diff", bad, deck)
    if name == "fine.png":
        assert result.exit_code == 0, result.output
    else:  # Anki itself refuses the package
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith(f"{bad}: error: Anki could not read the package")
    assert "\x1b" not in result.stderr
    assert not (tmp_path.parent / "escaped.png").exists() and not (tmp_path / "escaped.png").exists()
    assert not __import__("os").path.exists("/tmp/absolute.png")


def test_a_package_declaring_too_many_files_is_refused(write_deck, tmp_path, run, monkeypatch):
    monkeypatch.setattr(anki_reader, "MAX_MEMBERS", 50)
    deck = write_deck(SIMPLE_DECK)
    members = {"meta": MODERN_META, "collection.anki2": b"stub", "collection.anki21b": b"x"}
    members.update({str(i): b"" for i in range(60)})
    bad = zip_of(tmp_path / "many.apkg", members)
    result = run("diff", bad, deck)
    assert result.exit_code == 1
    assert "holds more than 50 files" in result.stderr


def test_a_package_declaring_a_huge_file_is_refused_before_unpacking(write_deck, tmp_path, run, monkeypatch):
    monkeypatch.setattr(anki_reader, "MAX_FILE", 1000)
    deck = write_deck(SIMPLE_DECK)
    members = {
        "meta": MODERN_META,
        "collection.anki2": b"stub",
        "collection.anki21b": b"x",
        "0": b"\0" * 5000,
    }
    bad = zip_of(tmp_path / "big.apkg", members)
    result = run("diff", bad, deck)
    assert result.exit_code == 1
    assert "larger than 0 MiB" in result.stderr or "refusing to unpack it" in result.stderr


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_an_old_package_that_is_no_regular_file_is_an_error_not_a_hang(write_deck, tmp_path, kind):
    """A FIFO would block the read forever, /dev/zero would be read until memory runs out."""
    deck = write_deck(SIMPLE_DECK)
    if kind == "fifo":
        old = tmp_path / "old.apkg"
        os.mkfifo(old)
    else:
        old = Path("/dev/zero")
    result = subprocess.run(
        [sys.executable, "-m", "factdeck", "diff", str(old), str(deck)],
        capture_output=True,
        timeout=60,
        env={**os.environ, "LC_ALL": "C.UTF-8"},
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.decode() == f"{old}: error: not a regular file, so not an .apkg file\n1 error\n"
