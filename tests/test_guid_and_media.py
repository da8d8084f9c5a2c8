"""`guid:` on a note (the GUID Anki knows it by) and `deck: media:` (files bundled under their own names)."""

from __future__ import annotations

from pathlib import Path

import pytest

from factdeck.assemble import note_guid
from factdeck.build import build, check

DECK = """\
deck: {id: demo, name: Demo}
notes:
  - id: kept
    guid: "E*;7c(zi8B"
    front: Q1
    back: A1
  - id: derived
    front: Q2
    back: A2
"""


def test_a_note_with_a_guid_reaches_anki_under_that_guid(write_deck, tmp_path, anki):
    deck = write_deck(DECK)
    result = build([str(deck)], output=tmp_path / "demo.apkg", now=1_700_000_000)
    assert not result.errors, result.diagnostics
    col = anki()
    col.import_package(tmp_path / "demo.apkg")
    guids = {note["ID"]: note.guid for note in col.notes().values()}
    assert guids == {"kept": "E*;7c(zi8B", "derived": note_guid("demo", "derived")}


@pytest.mark.parametrize(
    "value, message",
    [
        ('"has space"', "`guid` of note `kept` is invalid: Anki GUIDs are 1 to 64 printable ASCII"),
        ('"ünïcode"', "`guid` of note `kept` is invalid"),
        ('"' + "x" * 65 + '"', "`guid` of note `kept` is invalid"),
        ('""', "`guid` of note `kept` is empty"),
        ("[a]", "`guid` of note `kept` must be text, not a list"),
    ],
)
def test_an_invalid_guid_is_located(write_deck, value, message):
    deck = write_deck(DECK.replace('"E*;7c(zi8B"', value))
    errors = check([str(deck)]).errors
    assert [(e.line, e.col) for e in errors] == [(4, 11)]
    assert message in errors[0].message


def test_two_notes_with_one_guid_are_an_error_in_one_deck_and_across_decks(write_deck):
    twice = write_deck(DECK.replace("  - id: derived\n", '  - id: derived\n    guid: "E*;7c(zi8B"\n'))
    errors = check([str(twice)]).errors
    assert [(e.line, e.message) for e in errors] == [
        (8, "guid `E*;7c(zi8B` of note `derived` is also the guid of note `kept`")
    ]
    other = write_deck(DECK.replace("id: demo", "id: other").replace("id: derived", "id: d2"), "b.yaml")
    first = write_deck(DECK, "a.yaml")
    across = check([str(first), str(other)]).errors
    assert [e.message for e in across] == [f"note `kept` has the guid `E*;7c(zi8B` of note `kept` in {first}"]


MEDIA_DECK = """\
deck: {id: demo, name: Demo, media: demo-media}
notes:
  - id: pic
    front: '<img src="heart one.png"> and ![dot](dot.png)'
    back: "[sound:beat.mp3]"
"""


def test_files_of_the_media_folder_are_bundled_under_their_own_names(write_deck, tmp_path, anki):
    deck = write_deck(MEDIA_DECK)
    folder = tmp_path / "demo-media"
    folder.mkdir()
    for name in ("heart one.png", "dot.png", "beat.mp3", "_font.woff"):
        (folder / name).write_bytes(name.encode())
    (folder / ".hidden").write_bytes(b"x")
    result = build([str(deck)], output=tmp_path / "demo.apkg", now=1_700_000_000)
    assert not result.errors, result.diagnostics
    col = anki()
    col.import_package(tmp_path / "demo.apkg")
    note = col.notes()["pic"]
    assert note["Front"] == '<img src="heart one.png"> and <img src="dot.png" alt="dot">'
    assert note["Back"] == "[sound:beat.mp3]"
    media = Path(col.col.media.dir())
    assert sorted(p.name for p in media.iterdir()) == ["_font.woff", "beat.mp3", "dot.png", "heart one.png"]
    assert (media / "heart one.png").read_bytes() == b"heart one.png"


@pytest.mark.parametrize(
    "folder, message",
    [
        ("../elsewhere", "must be a folder inside the deck file's folder"),
        ("/etc", "must be a folder inside the deck file's folder"),
        ("missing", "media folder"),
    ],
)
def test_a_bad_media_folder_is_located(write_deck, folder, message):
    deck = write_deck(MEDIA_DECK.replace("demo-media", folder))
    errors = check([str(deck)]).errors
    assert errors and message in errors[0].message
    assert (errors[0].line, errors[0].col) == (1, 37)


def _media_deck(tmp_path: Path, folder: str) -> Path:
    deck_dir = tmp_path / "deck"
    deck_dir.mkdir(exist_ok=True)
    path = deck_dir / "deck.yaml"
    path.write_text(
        f"deck: {{id: demo, name: Demo, media: {folder}}}\nnotes:\n  - {{id: a, front: q, back: b}}\n"
    )
    return path


def _outside(tmp_path: Path) -> Path:
    """A folder beside the deck's folder, holding what a deck must never bundle."""
    outside = tmp_path / "fakessh"
    outside.mkdir(exist_ok=True)
    (outside / "id_rsa").write_text("PRIVATE KEY")
    for name in ("heart one.png", "dot.png"):
        (outside / name).write_bytes(b"x")
    return outside


@pytest.mark.parametrize("link", ["sshlink", "sub/sshlink"])
def test_a_media_folder_that_links_outside_the_deck_folder_is_a_located_error(tmp_path, link):
    outside = _outside(tmp_path)
    deck = _media_deck(tmp_path, link)
    (deck.parent / "sub").mkdir()
    (deck.parent / link).symlink_to(outside)
    result = build([str(deck)], output=tmp_path / "out.apkg", now=1_700_000_000)
    assert [d.format() for d in result.errors] == [
        f"{deck}:1:37: error: media folder `{link}` links outside the deck's folder"
    ]
    assert not (tmp_path / "out.apkg").exists()


def test_a_media_folder_under_a_linked_folder_is_refused_too(tmp_path):
    outside = _outside(tmp_path)
    (outside / "inner").mkdir()
    deck = _media_deck(tmp_path, "linked/inner")
    (deck.parent / "linked").symlink_to(outside)
    assert [d.message for d in check([str(deck)]).errors] == [
        "media folder `linked/inner` links outside the deck's folder"
    ]


def test_a_file_of_the_media_folder_linking_outside_the_deck_folder_is_refused(tmp_path):
    outside = _outside(tmp_path)
    deck = _media_deck(tmp_path, "demo-media")
    folder = deck.parent / "demo-media"
    folder.mkdir()
    (folder / "dot.png").write_bytes(b"dot")
    (folder / "heart one.png").symlink_to(outside / "heart one.png")
    (folder / "id_rsa").symlink_to(outside / "id_rsa")
    assert [d.message for d in check([str(deck)]).errors] == [
        "media file heart one.png links outside the deck's folder",
        "media file id_rsa links outside the deck's folder",
    ]


def test_a_media_folder_linking_to_a_folder_inside_the_deck_folder_is_bundled(tmp_path):
    deck = _media_deck(tmp_path, "alias")
    real = deck.parent / "assets" / "media"
    real.mkdir(parents=True)
    for name in ("heart one.png", "dot.png"):
        (real / name).write_bytes(name.encode())
    (real / "link.png").symlink_to(deck.parent / "assets" / "media" / "dot.png")
    (deck.parent / "alias").symlink_to(real)
    built = check([str(deck)])
    assert not built.errors, built.diagnostics
    assert sorted(built.decks[0].media) == ["dot.png", "heart one.png", "link.png"]
