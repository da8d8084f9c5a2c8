"""Files a custom note type's templates and CSS name are bundled under names Anki keeps, with
the references rewritten; what cannot be bundled is a located error, as for field images."""

from __future__ import annotations

import json
import os
import zipfile

import pytest

from factdeck.build import build, check

T0 = 1_700_000_000
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000001ff89993d1d0000000049454e44ae426082"
)

DECK = """\
deck:
  id: m
  name: M
notetypes:
  drug:
    fields: [Drug, Image]
    templates:
      - front: '<img src="logo.png"> {{Drug}} [sound:beep.mp3]<script src="lib.js"></script>'
        back: '{{FrontSide}}<img src="{{Image}}">'
    css: |
      @font-face { font-family: F; src: url("fonts/f.woff2") format("woff2"); }
      .card { background: url(bg.png); }
notes:
  - id: n
    type: drug
    fields: {Drug: a}
"""


@pytest.fixture
def files(tmp_path):
    (tmp_path / "fonts").mkdir()
    (tmp_path / "logo.png").write_bytes(PNG)
    (tmp_path / "bg.png").write_bytes(PNG + b"bg")
    (tmp_path / "beep.mp3").write_bytes(b"ID3 beep")
    (tmp_path / "lib.js").write_bytes(b"// a template's script")
    (tmp_path / "fonts" / "f.woff2").write_bytes(b"wOF2 font")
    return tmp_path


def _built(tmp_path, text: str = DECK):
    deck = tmp_path / "deck.yaml"
    deck.write_text(text, encoding="utf-8")
    result = build([str(deck)], output=tmp_path / "out.apkg", now=T0)
    assert not result.errors, [d.format() for d in result.errors]
    with zipfile.ZipFile(tmp_path / "out.apkg") as z:
        names = json.loads(z.read("media"))
        media = {names[k]: z.read(k) for k in names}
    return result.reports[0].deck.notetypes()["drug"], media


def test_files_templates_and_css_name_are_bundled_as_underscore_names_with_references_rewritten(files):
    nt, media = _built(files)
    by_content = {data: name for name, data in media.items()}
    logo, beep, font, bg, lib = (
        by_content[(files / p).read_bytes()]
        for p in ("logo.png", "beep.mp3", "fonts/f.woff2", "bg.png", "lib.js")
    )
    assert all(name.startswith("_factdeck-") for name in (logo, beep, font, bg, lib))
    assert logo.endswith(".png") and beep.endswith(".mp3") and font.endswith(".woff2") and lib.endswith(".js")
    front, back = nt.templates[0][1:]
    assert front == f'<img src="{logo}"> {{{{Drug}}}} [sound:{beep}]<script src="{lib}"></script>'
    assert back == '{{FrontSide}}<img src="{{Image}}">'  # a field's file is the note's
    assert f'src: url("{font}") format("woff2")' in nt.css and f'url("{bg}")' in nt.css


def test_after_import_the_files_are_in_anki_s_media_folder_and_check_media_calls_none_unused(files, anki):
    _, media = _built(files)
    col = anki()
    col.import_package(files / "out.apkg")
    assert set(media) <= set(os.listdir(col.col.media.dir()))
    report = col.col.media.check()
    assert not set(report.unused) & set(media) and not report.missing


def test_anki_s_check_media_calls_a_file_only_a_template_names_unused_unless_it_starts_with_underscore(anki):
    """The rule the bundled names follow, measured: no field names these files."""
    c = anki().col
    model = c.models.by_name("Basic")
    model["tmpls"][0]["qfmt"] += '<img src="logo.png"><img src="_logo.png">'
    c.models.update_dict(model)
    note = c.new_note(model)
    note["Front"], note["Back"] = "q", "a"
    c.add_note(note, 1)
    c.media.write_data("logo.png", PNG)
    c.media.write_data("_logo.png", PNG)
    assert list(c.media.check().unused) == ["logo.png"]


def test_a_file_of_the_media_folder_keeps_its_name(files):
    (files / "media").mkdir()
    (files / "media" / "_font.woff").write_bytes(b"wOFF")
    text = DECK.replace("  name: M\n", "  name: M\n  media: media\n").replace("fonts/f.woff2", "_font.woff")
    nt, media = _built(files, text)
    assert 'url("_font.woff")' in nt.css and media["_font.woff"] == b"wOFF"


@pytest.mark.parametrize(
    ("old", "new", "where", "problem"),
    [
        ("logo.png", "nothere.png", "8:27", "image `nothere.png` not found"),
        ("logo.png", "../outside.png", "8:27", "image `../outside.png` is outside the deck's folder"),
        ("logo.png", "pipe.png", "8:27", "image `pipe.png` is not a regular file (a FIFO, device or socket)"),
        ("fonts/f.woff2", "fonts/none.woff2", "11:41", "file `fonts/none.woff2` not found"),
    ],
)
def test_a_file_that_cannot_be_bundled_is_an_error_where_the_template_or_css_names_it(
    files, old, new, where, problem
):
    os.mkfifo(files / "pipe.png")
    deck = files / "deck.yaml"
    deck.write_text(DECK.replace(old, new), encoding="utf-8")
    errors = [d.format() for d in check([str(deck)]).errors]
    assert len(errors) == 1 and errors[0].startswith(f"{deck}:{where}: error: "), errors
    assert problem in errors[0]


def test_a_web_address_in_a_template_or_css_is_kept_as_written_as_in_fields(files):
    """Anki loads it (the preview shows a placeholder naming it instead); nothing is bundled."""
    text = DECK.replace("logo.png", "https://example.org/x.png").replace(
        "url(bg.png)", "url(http://example.org/bg.png)"
    )
    nt, media = _built(files, text)
    assert "https://example.org/x.png" in nt.templates[0][1] + nt.templates[0][2]
    assert "url(http://example.org/bg.png)" in nt.css
    assert not any("example.org" in name for name in media)


def test_a_css_file_s_reference_is_located_in_the_css_file(files):
    (files / "drug.css").write_text(".card {\n  background: url(none.png);\n}\n", encoding="utf-8")
    deck = files / "deck.yaml"
    text = DECK.split("    css: |")[0] + "    css-file: drug.css\nnotes:" + DECK.split("notes:")[1]
    deck.write_text(text, encoding="utf-8")
    errors = [d.format() for d in check([str(deck)]).errors]
    assert errors == [
        f"{files}/drug.css:2:15: error: `css-file` of note type `drug`: file `none.png` not found "
        f"(looked for {files}/none.png)"
    ]


def test_importing_a_package_whose_templates_name_files_it_lacks_or_the_web_gives_decks_that_build(
    tmp_path, anki, run
):
    from anki.collection import ExportAnkiPackageOptions

    c = anki().col
    model = c.models.by_name("Basic")
    model["tmpls"][0]["qfmt"] += '<img src="gone.png"><img src="https://example.org/x.png">'
    model["css"] += ".card { background: url(_gone.png); }"
    c.models.update_dict(model)
    for deck in ("One", "Two"):  # a type two decks use
        note = c.new_note(model)
        note["Front"], note["Back"] = deck, "a"
        c.add_note(note, c.decks.id(deck))
    package = tmp_path / "p.apkg"
    c.export_anki_package(out_path=str(package), options=ExportAnkiPackageOptions(), limit=None)
    result = run("import", package, "-o", tmp_path / "decks")
    assert result.exit_code == 0, result.output
    assert "load 'https://example.org/x.png' from the web" in result.output
    built = build([str(tmp_path / "decks")], output=tmp_path / "rebuilt.apkg", now=T0)
    assert not built.errors, [d.format() for d in built.errors]
    (nt,) = {n.notetype for d in built.reports for n in d.deck.notes}
    assert '<img src="gone.png"><img src="https://example.org/x.png">' in nt.templates[0][1]


def test_an_included_note_type_finds_bare_underscore_names_in_the_including_deck_s_media_folder(tmp_path):
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "_font.woff").write_bytes(b"wOFF")
    (tmp_path / "types.yaml").write_text(
        "id: shared\nnotetypes:\n  drug:\n    fields: [Drug]\n"
        '    templates: [{front: "{{Drug}}", back: "{{Drug}}!"}]\n'
        "    css: '@font-face { font-family: F; src: url(_font.woff); }'\n",
        encoding="utf-8",
    )
    deck = tmp_path / "deck.yaml"
    deck.write_text(
        "deck: {id: d, name: D, media: media}\ninclude: [types.yaml]\n"
        "notes:\n  - {id: n, type: drug, fields: {Drug: a}}\n",
        encoding="utf-8",
    )
    result = build([str(deck)], output=tmp_path / "out.apkg", now=T0)
    assert not result.errors, [d.format() for d in result.errors]
    assert result.reports[0].deck.notetypes()["drug"].css.endswith("url(_font.woff); }")
    with zipfile.ZipFile(tmp_path / "out.apkg") as z:
        assert "_font.woff" in json.loads(z.read("media")).values()


def test_thousands_of_missing_files_in_one_template_are_located_in_one_reading(files):
    """Each of 5,000 references located from the template's start took minutes; now one reading."""
    refs = 5_000
    deck = files / "deck.yaml"
    deck.write_text(DECK.replace('<img src="logo.png">', '<img src="none.png">' * refs), encoding="utf-8")
    errors = [d.format() for d in check([str(deck)]).errors]
    assert len(errors) == refs and all("image `none.png` not found" in e for e in errors)
    assert errors[0].startswith(f"{deck}:8:27: ") and errors[-1].startswith(
        f"{deck}:8:{27 + 20 * (refs - 1)}: "
    )


def test_a_style_sheet_an_import_names_by_a_bare_string_is_bundled_as_an_url_import_is(files):
    """`@import "base.css"` loads base.css as `@import url(base.css)` does: left as written,
    Anki's media folder would lack it and the cards lose its rules without a word."""
    (files / "base.css").write_text(".x { color: red }")
    text = DECK.replace(
        "    css: |\n", "    css: |\n      @import \"base.css\";\n      @import 'missing.css' screen;\n"
    )
    deck = files / "deck.yaml"
    deck.write_text(text, encoding="utf-8")
    errors = [d.format() for d in check([str(deck)]).errors]
    assert (
        len(errors) == 1
        and errors[0].startswith(f"{deck}:12:15: ")
        and "`missing.css` not found" in errors[0]
    )
    nt, media = _built(files, text.replace("      @import 'missing.css' screen;\n", ""))
    (name,) = [n for n, data in media.items() if data == b".x { color: red }"]
    assert name.startswith("_factdeck-") and nt.css.startswith(f'@import "{name}";\n')
