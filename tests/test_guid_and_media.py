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
    assert sorted(built.decks[0].folder) == ["dot.png", "heart one.png", "link.png"]


# --- which files of a media folder Anki keeps ------------------------------------------------------

KEPT_DECK = """\
deck: {id: kept, name: Kept, media: m}
notetypes:
  t:
    fields: [{name: F, format: html}, {name: S, format: text}, ID]
    id-field: ID
    templates:
      - {name: c, front: '{{F}}{{S}}<img src="tmpl.png"><img src="_tmpl.png">', back: '{{FrontSide}}'}
notes:
  - id: a
    type: t
    fields:
      F: '<img src="used.png"> <a href="linked.pdf">notes</a> <span style="background: url(styled.png)">x</span>'
      S: "[sound:beat.mp3]"
"""


def test_the_package_holds_exactly_the_media_folder_files_anki_keeps_and_warns_of_the_rest(
    write_deck, tmp_path, anki
):
    """Measured: Anki's import keeps the files a field names in `<img src>` or `[sound:]`, and
    those whose names start with `_`; not a file only a template, a link or a style names."""
    import json
    import zipfile

    deck = write_deck(KEPT_DECK)
    folder = tmp_path / "m"
    folder.mkdir()
    names = ["used.png", "beat.mp3", "_tmpl.png", "_unused.png", "tmpl.png", "linked.pdf", "unused.png"]
    for name in [*names, "styled.png"]:
        (folder / name).write_bytes(name.encode())
    result = build([str(deck)], output=tmp_path / "kept.apkg", now=1_700_000_000)
    assert not result.errors, result.diagnostics
    left_out = [d.format() for d in result.diagnostics if d.code == "media-unused"]
    assert left_out == [
        f"{deck}:1:37: warning: media file `{name}` is left out of the package: no field names it in "
        "`<img src>` or `[sound:]` and its name does not start with `_`, so Anki's import would leave it "
        "out (and its Check Media delete it); name it in a field, or, for a template or a style, rename it "
        "to start with `_`"
        for name in ("linked.pdf", "tmpl.png", "unused.png")
    ]
    with zipfile.ZipFile(tmp_path / "kept.apkg") as zf:
        packaged = set(json.loads(zf.read("media")).values())
    col = anki()
    col.import_package(tmp_path / "kept.apkg")
    kept = {p.name for p in Path(col.col.media.dir()).iterdir()}
    # styled.png: bundled with its own warning (a style's url() is not a reference to Anki)
    assert packaged == {"used.png", "beat.mp3", "_tmpl.png", "_unused.png", "styled.png"}
    assert kept == packaged - {"styled.png"}
    checked = col.col.media.check()
    assert list(checked.unused) == [] and list(checked.missing) == []


# --- one package, one file per media name ---------------------------------------------------------


def _two_decks(tmp_path: Path, a: dict[str, bytes], b: dict[str, bytes]) -> list[Path]:
    """Decks a/ and b/, each with a media folder m/ holding the given files, each named by a field."""
    paths = []
    for key, files in (("a", a), ("b", b)):
        (tmp_path / key / "m").mkdir(parents=True)
        for name, data in files.items():
            (tmp_path / key / "m" / name).write_bytes(data)
        front = "".join(f'<img src="{name}">' for name in files)
        path = tmp_path / key / "deck.yaml"
        path.write_text(
            f"deck: {{id: deck-{key}, name: Deck {key}, media: m}}\n"
            "notes:\n"
            f"  - id: n\n    front: '{front}'\n    back: b\n",
            encoding="utf-8",
        )
        paths.append(path)
    return paths


NFC, NFD = "\u00e9.png", "e\u0301.png"


@pytest.mark.parametrize(
    "a_name, b_name, how",
    [
        ("x.png", "x.png", "by one name"),
        ("X.png", "x.png", "by names that differ only by case or Unicode form"),
        (NFC, NFD, "by names that differ only by case or Unicode form"),
        ("\u00c9.png", NFD, "by names that differ only by case or Unicode form"),
    ],
)
def test_two_decks_bundling_different_files_by_one_media_name_is_a_located_error(
    tmp_path, a_name, b_name, how
):
    a, b = _two_decks(tmp_path, {a_name: b"deck a's"}, {b_name: b"deck b's"})
    out = tmp_path / "one.apkg"
    result = build([str(a), str(b)], output=out, now=1_700_000_000)
    (error,) = result.errors
    assert (error.path, error.line, error.col, error.code) == (str(b), 1, 41, "media-clash")
    assert "and `" in error.message and f" of {a} (" in error.message and how in error.message
    assert error.message.endswith("one package cannot hold both; rename one")
    assert not out.exists()
    separate = build([str(a), str(b)], dist=tmp_path / "dist", now=1_700_000_000)
    assert not separate.errors, separate.diagnostics  # one package each: no clash


def test_the_same_file_under_one_media_name_in_two_decks_is_one_file(tmp_path):
    a, b = _two_decks(tmp_path, {"x.png": b"same", "X.png": b"same"}, {"x.png": b"same", NFD: b"other"})
    result = build([str(a), str(b)], output=tmp_path / "one.apkg", now=1_700_000_000)
    assert not result.errors, result.diagnostics


def test_names_that_differ_by_case_or_unicode_form_in_one_media_folder_are_an_error(tmp_path):
    a = _two_decks(
        tmp_path, {"X.png": b"upper", "x.png": b"lower", NFC: b"composed", NFD: b"decomposed"}, {}
    )[0]
    result = build([str(a)], output=tmp_path / "a.apkg", now=1_700_000_000)
    assert [e.format().removeprefix(f"{a}:") for e in result.errors] == [
        f"1:41: error: media file `x.png` ({a.parent / 'm' / 'x.png'}) and `X.png` ({a.parent / 'm' / 'X.png'}) "
        "are different files by names that differ only by case or Unicode form, which importers take for one "
        "(Windows and macOS ignore case; Anki stores every name in NFC): one package cannot hold both; rename one",
        f"1:41: error: media file `\\xe9.png` ({a.parent / 'm' / NFC}) and `e\\u0301.png` ({a.parent / 'm' / NFD}) "
        "are different files by names that differ only by case or Unicode form, which importers take for one "
        "(Windows and macOS ignore case; Anki stores every name in NFC): one package cannot hold both; rename one",
    ]
    assert not (tmp_path / "a.apkg").exists()


def test_images_named_alike_in_two_decks_each_reach_their_own_notes(tmp_path, anki):
    """Bundled images are named by their content: `img/x.png` of two decks are two files."""
    paths = []
    for key in ("a", "b"):
        (tmp_path / key / "img").mkdir(parents=True)
        (tmp_path / key / "img" / "x.png").write_bytes(f"deck {key}'s picture".encode())
        path = tmp_path / key / "deck.yaml"
        path.write_text(
            f"deck: {{id: deck-{key}, name: Deck {key}}}\nnotes:\n  - {{id: n, front: '![x](img/x.png)', back: b}}\n"
        )
        paths.append(path)
    result = build([str(p) for p in paths], output=tmp_path / "one.apkg", now=1_700_000_000)
    assert not result.errors, result.diagnostics
    col = anki()
    col.import_package(tmp_path / "one.apkg")
    media = Path(col.col.media.dir())
    shown = {}
    for nid in col.col.find_notes(""):
        note = col.col.get_note(nid)
        (name,) = col.col.media.files_in_str(note.mid, note["Front"])
        shown[col.col.decks.name(note.cards()[0].did)] = (media / name).read_bytes()
    assert shown == {"Deck a": b"deck a's picture", "Deck b": b"deck b's picture"}


def test_a_bundled_image_cannot_take_the_name_of_another_media_folder_file(tmp_path):
    import hashlib

    deck_dir = tmp_path / "deck"
    (deck_dir / "m").mkdir(parents=True)
    (deck_dir / "pic.png").write_bytes(b"the picture")
    digest = hashlib.sha256(b"the picture").hexdigest()[:24]
    (deck_dir / "m" / f"factdeck-{digest}.png").write_bytes(b"something else")
    path = deck_dir / "deck.yaml"
    path.write_text(
        "deck: {id: d, name: D, media: m}\nnotes:\n  - {id: n, front: '![x](pic.png)', back: b}\n"
    )
    (error,) = check([str(path)]).errors
    assert error.message.startswith(
        f"image `pic.png` is bundled as `factdeck-{digest}.png`, the name of another file in the media folder"
    )


def test_a_sync_of_two_decks_bundling_one_name_twice_is_refused(tmp_path, run, anki):
    a, b = _two_decks(tmp_path, {"x.png": b"deck a's"}, {"x.png": b"deck b's"})
    col = anki()
    path = col.col.path
    col.close()
    result = run("sync", a, b, "--collection", path, "--yes")
    assert result.exit_code == 1
    assert f"{b}:1:41: error: media file `x.png`" in result.stderr


# --- missing-media: names the fields use that the deck does not have ------------------------------


def test_names_listed_as_missing_media_are_kept_as_written_and_others_still_checked(tmp_path):
    deck_dir = tmp_path / "deck"
    (deck_dir / "m").mkdir(parents=True)
    (deck_dir / "m" / "here.png").write_bytes(b"here")
    path = deck_dir / "deck.yaml"
    path.write_text(
        "deck:\n  id: d\n  name: D\n  media: m\n"
        "  missing-media: [gone.png, gone.mp3, here.png, gone.png, '']\n"
        "notes:\n"
        '  - {id: a, front: \'<img src="gone.png"> [sound:gone.mp3] <img src="here.png">\', back: b}\n'
        "  - {id: b, front: '![x](gone.png) <img src=\"other.png\">', back: '[sound:other.mp3]'}\n"
    )
    result = check([str(path)])
    assert [d.format().removeprefix(f"{path}:") for d in result.diagnostics] == [
        "5:18: warning: 2 media files the fields name are not in the package (`missing-media`): their cards "
        "show them only in collections that already have them; add them to the media folder to ship them",
        "5:39: warning: `here.png` is in the media folder, so it is bundled: remove it from `missing-media`",
        "5:49: warning: `gone.png` is listed twice in `missing-media`",
        "5:59: error: a missing media file's name is empty",
        f"8:20: error: image `other.png` not found (looked for {deck_dir / 'other.png'}) (in `front` of note `b`)",
        f"8:66: error: sound `other.mp3` not found (looked for {deck_dir / 'other.mp3'}) (in `back` of note `b`)",
    ]
    path.write_text(
        path.read_text()
        .replace(", '']", "]")
        .replace(' <img src="other.png">', "")
        .replace("'[sound:other.mp3]'", "b")
    )
    result = build([str(path)], output=tmp_path / "d.apkg", now=1_700_000_000)
    assert not result.errors, result.diagnostics
    fronts = [n.fields[0] for n in check([str(path)]).decks[0].notes]
    assert fronts == [
        '<img src="gone.png"> [sound:gone.mp3] <img src="here.png">',
        '<img src="gone.png" alt="x">',
    ]
    assert sorted(check([str(path)]).decks[0].media) == ["here.png"]
