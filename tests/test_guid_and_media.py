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
