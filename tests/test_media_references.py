"""Every way a field names a file reaches Anki with the file, or is a located error.

Images in `<img src>` are covered by test_images.py; here: `url()` in the styles of html fields,
`[sound:...]` in any field, SVG files (which must not bring scripts into a package), and the
references the sanitiser drops (`file:` addresses, `srcset`), which are reported instead of
vanishing.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from factdeck.build import build, check

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16
MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\0" * 16
CLEAN_SVG = (
    b'<?xml version="1.0"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
    b'"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n'
    b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
    b'<defs><circle id="c" r="5"/></defs><use xlink:href="#c"/>'
    b'<image href="data:image/png;base64,iVBORw0KGgo="/><style>.a{fill:url(#g)}</style></svg>'
)

HEAD = """\
deck: {id: d, name: D}
notetypes:
  h:
    fields: [{name: A, format: html}, {name: T, format: text}, B]
    templates: [{name: c, front: "{{A}}{{T}}{{B}}", back: x}]
notes:
"""


def _deck(tmp_path: Path, *fields: str) -> Path:
    """A deck in tmp_path/deck with one note per field value, `A: ...` or `B: ...` of type h."""
    deck_dir = tmp_path / "deck"
    deck_dir.mkdir(exist_ok=True)
    lines = [HEAD]
    for i, field in enumerate(fields):
        name, _, value = field.partition(": ")
        lines.append(f"  - {{id: n{i}, type: h, fields: {{{name}: {json.dumps(value)}}}}}\n")
    path = deck_dir / "deck.yaml"
    path.write_text("".join(lines))
    return path


def _messages(path: Path) -> list[str]:
    return [d.format().removeprefix(f"{path}:") for d in check([str(path)]).diagnostics]


def _files(tmp_path: Path) -> None:
    deck_dir = tmp_path / "deck"
    deck_dir.mkdir(exist_ok=True)
    (deck_dir / "in.png").write_bytes(PNG)
    (deck_dir / "beat.mp3").write_bytes(MP3)
    (tmp_path / "outside").mkdir(exist_ok=True)
    (tmp_path / "outside" / "secret.png").write_bytes(PNG)
    (tmp_path / "outside" / "secret.mp3").write_bytes(MP3)


def _build_and_import(path: Path, tmp_path: Path, anki):
    result = build([str(path)], output=tmp_path / "out.apkg", now=1_700_000_000)
    assert not result.errors, result.diagnostics
    col = anki()
    col.import_package(tmp_path / "out.apkg")
    return col


# --- url() in style -------------------------------------------------------------------------------


def test_a_local_url_in_a_style_is_bundled_and_reaches_anki_with_its_file(tmp_path, anki):
    _files(tmp_path)
    path = _deck(
        tmp_path,
        'A: <div style="background-image: url(&quot;in.png&quot;)">x</div>',
        "A: <span style=\"b: image-set('in.png' 1x)\">y</span>",
    )
    col = _build_and_import(path, tmp_path, anki)
    media = Path(col.col.media.dir())
    fields = sorted(col.col.get_note(nid)["A"] for nid in col.col.find_notes(""))
    (name,) = [p.name for p in media.iterdir()]
    # Anki's import keeps a file no `<img>` or `[sound:]` names only when its name starts with `_`
    assert name.startswith("_factdeck-") and (media / name).read_bytes() == PNG
    assert fields == [
        f'<div style="background-image: url(&quot;{name}&quot;)">x</div>',
        f'<span style="b: image-set(&quot;{name}&quot; 1x)">y</span>',
    ]


@pytest.mark.parametrize(
    "style, shown",
    [
        (
            "background:url(../outside/secret.png)",
            "image `../outside/secret.png` is outside the deck's folder",
        ),
        ("content:url(/etc/passwd)", "image `/etc/passwd` is outside the deck's folder"),
        (
            "b:url(&#46;&#46;/outside/secret.png)",
            "image `../outside/secret.png` is outside the deck's folder",
        ),
        ("b:url(\\2e\\2e/outside/secret.png)", "image `../outside/secret.png` is outside the deck's folder"),
        ("b:\\75 rl(../outside/secret.png)", "image `../outside/secret.png` is outside the deck's folder"),
        (
            "b:URL( '%2e%2e/outside/secret.png' )",
            "image `%2e%2e/outside/secret.png` is outside the deck's folder",
        ),
        (
            "b:image-set('../outside/secret.png' 1x)",
            "image `../outside/secret.png` is outside the deck's folder",
        ),
        ("b:url(missing.png)", "image `missing.png` not found"),
        ("b:url(file:///etc/x.png)", "`url()` in `style` `file:///etc/x.png` is a file: address"),
        ("b:url(javascript:alert(1))", "`url(javascript:alert(1)` in `style` is neither a web address"),
    ],
)
def test_a_url_in_a_style_that_cannot_be_bundled_is_a_located_error(tmp_path, style, shown):
    _files(tmp_path)
    path = _deck(tmp_path, f'A: <span style="{style}">x</span>')
    (message,) = _messages(path)
    assert message.startswith(f"7:35: error: {shown}") and message.endswith("(in field `A` of note `n0`)")


def test_remote_fragment_and_data_urls_in_a_style_are_kept_as_written(tmp_path):
    _files(tmp_path)
    style = (
        "a: url(https://e.org/a.png); b: url( '//e.org/b.png' ); filter: url(#blur); "
        "c: url(data:image/png;base64,iVBORw0KGgo=); d: /* url(../outside/secret.png) */ red; "
        "e: 'url(../outside/secret.png)'; f: xurl(../outside/secret.png)"
    )
    path = _deck(tmp_path, f'A: <span style="{style}">x</span>')
    built = check([str(path)])
    assert built.diagnostics == [] and built.decks[0].media == {}
    assert built.decks[0].notes[0].fields[0] == f'<span style="{style}">x</span>'


def test_a_style_url_naming_a_media_folder_file_keeps_its_name(tmp_path):
    path = _deck(tmp_path, 'A: <span style="background: url(_heart.png)">x</span>')
    path.write_text(path.read_text().replace("name: D}", "name: D, media: m}"))
    (path.parent / "m").mkdir()
    (path.parent / "m" / "_heart.png").write_bytes(PNG)
    built = check([str(path)])
    assert built.diagnostics == [] and list(built.decks[0].media) == ["_heart.png"]
    assert built.decks[0].notes[0].fields[0] == '<span style="background: url(_heart.png)">x</span>'


def test_anki_drops_a_media_folder_file_named_only_in_a_style_so_that_is_a_warning(tmp_path, anki):
    path = _deck(tmp_path, 'A: <span style="background: url(heart.png)">x</span>')
    path.write_text(path.read_text().replace("name: D}", "name: D, media: m}"))
    (path.parent / "m").mkdir()
    (path.parent / "m" / "heart.png").write_bytes(PNG)
    (message,) = _messages(path)
    assert message.startswith("7:35: warning: `url(heart.png)` in `style` names a file of the media folder")
    col = _build_and_import(path, tmp_path, anki)
    assert list(Path(col.col.media.dir()).iterdir()) == []  # what the warning says


# --- [sound:...] ----------------------------------------------------------------------------------


def test_a_local_sound_is_bundled_and_anki_plays_the_bundled_file(tmp_path, anki):
    _files(tmp_path)
    path = _deck(
        tmp_path, "B: Listen [sound:beat.mp3]", "T: [sound:beat.mp3] as text", "A: <b>[sound:beat.mp3]</b>"
    )
    col = _build_and_import(path, tmp_path, anki)
    media = Path(col.col.media.dir())
    (name,) = [p.name for p in media.iterdir()]
    assert name.startswith("factdeck-") and name.endswith(".mp3") and (media / name).read_bytes() == MP3
    played = [tag.filename for card in col.cards() for tag in card.question_av_tags()]
    assert played == [name, name, name]


@pytest.mark.parametrize(
    "field, shown",
    [
        ("B: [sound:../outside/secret.mp3]", "sound `../outside/secret.mp3` is outside the deck's folder"),
        ("B: [sound:/tmp/x.mp3]", "sound `/tmp/x.mp3` is outside the deck's folder"),
        (
            "A: [sound:..&#47;outside/secret.mp3]",
            "sound `../outside/secret.mp3` is outside the deck's folder",
        ),
        ("T: [sound:../outside/secret.mp3]", "sound `../outside/secret.mp3` is outside the deck's folder"),
        ("B: [sound:missing.mp3]", "sound `missing.mp3` not found"),
        ("B: [sound:in.png]", "sound `in.png` is not a type Anki plays"),
        ("B: [sound:https://e.org/a.mp3]", "sound `https://e.org/a.mp3` is a web address"),
    ],
)
def test_a_sound_that_cannot_be_bundled_is_a_located_error(tmp_path, field, shown):
    _files(tmp_path)
    path = _deck(tmp_path, field)
    (message,) = _messages(path)
    assert message.startswith(f"7:35: error: {shown}")


def test_a_sound_in_a_built_in_note_is_checked_too(tmp_path):
    _files(tmp_path)
    path = tmp_path / "deck" / "basic.yaml"
    path.write_text(
        "deck: {id: b, name: B}\nnotes:\n"
        "  - {id: a, front: '[sound:beat.mp3]', back: '[sound:../outside/secret.mp3]'}\n"
    )
    assert _messages(path) == [
        "3:46: error: sound `../outside/secret.mp3` is outside the deck's folder (in `back` of note `a`)"
    ]


# --- SVG ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "svg, shown",
    [
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "<script"),
        (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "onload="),
        (b"<svg><a xlink:href='javascript:alert(1)'>x</a></svg>", "javascript:"),
        (b"<svg><a href='&#106;ava&#x9;script:alert(1)'>x</a></svg>", "java script:"),
        (b"<svg><a href='&#x6A;avascript&#58;alert(1)'>x</a></svg>", "javascript:"),
        (b"<svg><foreignObject><div>x</div></foreignObject></svg>", "<foreignObject"),
        (b'<svg><set attributeName="onclick" to="alert(1)"/></svg>', 'attributeName="on'),
        (
            b'<!DOCTYPE svg [<!ENTITY x "&#60;script&#62;alert(1)&#60;/script&#62;">]><svg>&x;</svg>',
            "<!ENTITY x",
        ),
        ("<svg><SCRIPT>alert(1)</SCRIPT></svg>".encode("utf-16"), "<SCRIPT"),
        (b'<svg><image href="http://e.org/track.png"/></svg>', "refers to another file"),
        (b'<svg><use xlink:href="other.svg#a"/></svg>', "refers to another file"),
        (b"<svg><style>@import url(x.css);</style></svg>", "refers to another file"),
        (b'<?xml-stylesheet href="x.css"?><svg/>', "refers to another file"),
    ],
)
def test_an_svg_with_a_script_or_a_reference_to_another_file_is_refused(tmp_path, svg, shown):
    (tmp_path / "deck").mkdir()
    (tmp_path / "deck" / "x.svg").write_bytes(svg)
    path = _deck(tmp_path, 'B: <img src="x.svg">')
    (message,) = _messages(path)
    assert message.startswith("7:35: error: SVG image `x.svg` ") and shown in message, message


def test_a_clean_svg_is_bundled_byte_for_byte(tmp_path):
    (tmp_path / "deck").mkdir()
    (tmp_path / "deck" / "x.svg").write_bytes(CLEAN_SVG)
    path = _deck(tmp_path, 'B: <img src="x.svg">', "B: ![x](x.svg)")
    result = build([str(path)], output=tmp_path / "out.apkg", now=1_700_000_000)
    assert result.diagnostics == []
    with zipfile.ZipFile(tmp_path / "out.apkg") as z:
        assert CLEAN_SVG in [z.read(n) for n in z.namelist()]


def test_an_svg_of_the_media_folder_with_a_script_is_refused(tmp_path):
    path = _deck(tmp_path, 'B: <img src="fine.svg">')
    path.write_text(path.read_text().replace("name: D}", "name: D, media: m}"))
    (path.parent / "m").mkdir()
    (path.parent / "m" / "evil.svg").write_bytes(b"<svg onload='alert(1)'/>")
    (path.parent / "m" / "fine.svg").write_bytes(CLEAN_SVG)
    (message,) = _messages(path)
    assert message.startswith("1:31: error: media file evil.svg holds `onload=`")


def test_an_svg_data_address_is_checked_like_an_svg_file(tmp_path):
    path = _deck(
        tmp_path,
        'A: <img src="data:image/svg+xml,<svg xmlns=%22http://www.w3.org/2000/svg%22 onload=%22alert(1)%22/>">',
        'A: <img src="data:image/svg+xml;base64,PHN2Zz48c2NyaXB0PmFsZXJ0KDEpPC9zY3JpcHQ+PC9zdmc+">',
        "A: <span style=\"b: url('data:image/svg+xml,<svg><script>x</script></svg>')\">x</span>",
        'A: <img src="data:image/svg+xml,<svg xmlns=%22http://www.w3.org/2000/svg%22/>">',
    )
    messages = _messages(path)
    assert [m.split(" error: ")[0] for m in messages] == ["7:35:", "8:35:", "9:35:"], messages
    assert all("an SVG image given as a data: address holds" in m for m in messages)


# --- references the sanitiser drops ---------------------------------------------------------------


def test_dropped_references_are_reported_not_lost(tmp_path):
    _files(tmp_path)
    path = _deck(
        tmp_path,
        'B: <img src="file:///tmp/x.png">',
        'A: <img src=" FILE:x.png">',
        'B: <img srcset="in.png 2x">',
        'B: <img src="in.png" srcset="in.png 2x">',
        'A: <a href="file:///tmp/notes.pdf">notes</a>',
        "B: ![x](in.png)",
    )
    assert _messages(path) == [
        "7:35: error: image `file:///tmp/x.png` is a file: address, which a card cannot load; put the file "
        "in the deck's folder and name it relative to the deck file (in field `B` of note `n0`)",
        "8:35: error: image `FILE:x.png` is a file: address, which a card cannot load; put the file in the "
        "deck's folder and name it relative to the deck file (in field `A` of note `n1`)",
        "9:35: error: an image has `srcset` and no `src`: factdeck bundles only `src`, so it shows nothing; "
        "name the image in `src` (in field `B` of note `n2`)",
        "10:35: warning: `srcset` of an image is dropped: factdeck bundles only `src`, which the card shows "
        "(in field `B` of note `n3`)",
        "11:35: warning: link `file:///tmp/notes.pdf` is a file: address, which a card cannot load; put the "
        "file in the deck's folder and name it relative to the deck file; the link is dropped (in field `A` "
        "of note `n4`)",
    ]


def test_a_data_address_is_only_an_image_source_never_a_link(tmp_path):
    path = _deck(tmp_path, 'A: <a href="data:text/html,<script>alert(1)</script>">x</a>')
    built = check([str(path)])
    assert built.decks[0].notes[0].fields[0] == "<a>x</a>"


# --- links and Markdown's own URL filter ------------------------------------------------------------


@pytest.mark.parametrize(
    "field, url",
    [
        ("B: [x](../../secret.pdf)", "../../secret.pdf"),
        ("B: [x](../outside/secret.pdf#page=2)", "../outside/secret.pdf#page=2"),
        ("B: [x](%2e%2e/outside/secret.pdf)", "%2e%2e/outside/secret.pdf"),
        ("B: [x](.%2E/outside/secret.pdf)", ".%2E/outside/secret.pdf"),
        ("B: [x](sub/../../outside/secret.pdf)", "sub/../../outside/secret.pdf"),
        ("B: [x](/etc/passwd)", "/etc/passwd"),
        ("B: [x](<../a b.pdf>)", "../a%20b.pdf"),
        ("B: [x][r]\n\n[r]: ../../secret.pdf", "../../secret.pdf"),
        ('B: <a href="../../secret.pdf">x</a>', "../../secret.pdf"),
        ('A: <a href="..\\..\\secret.pdf">x</a>', "..\\..\\secret.pdf"),  # a browser reads `\` as `/`
        ('A: <a href=" ../outside/secret.pdf">x</a>', "../outside/secret.pdf"),
        ("B: [x](linked/secret.pdf)", "linked/secret.pdf"),  # a symbolic link out of the folder
    ],
)
def test_a_relative_link_leaving_the_decks_folder_is_a_located_error(tmp_path, field, url):
    _files(tmp_path)
    (tmp_path / "deck" / "linked").symlink_to(tmp_path / "outside")
    path = _deck(tmp_path, field)
    result = check([str(path)])
    assert [d.format().removeprefix(f"{path}:") for d in result.diagnostics] == [
        f"7:35: error: link `{url}` is outside the deck's folder (in field `{field[0]}` of note `n0`)"
    ]


@pytest.mark.parametrize(
    "field",
    [
        "B: [x](notes.pdf)",
        "B: [x](sub/../notes.pdf)",
        "B: [x](#top)",
        "B: [x](?q=1)",
        "B: [x](//example.org/a)",
        "B: [x](https://example.org/../x)",
        "B: [x](mailto:a@example.org)",
        'A: <a href="/\\example.org">x</a>',  # `//example.org` to a browser: another host
    ],
)
def test_links_inside_the_folder_or_to_the_web_are_kept(tmp_path, field):
    _files(tmp_path)
    path = _deck(tmp_path, field)
    assert _messages(path) == []


def test_markdown_file_addresses_are_reported_like_raw_htmls_not_shown_as_text(tmp_path):
    _files(tmp_path)
    path = _deck(
        tmp_path,
        "B: ![x](file:///etc/passwd)",
        "B: see ![x](FILE:/etc/passwd) here",
        "B: [notes](file:///tmp/notes.pdf)",
    )
    assert _messages(path) == [
        "7:35: error: image `file:///etc/passwd` is a file: address, which a card cannot load; put the file "
        "in the deck's folder and name it relative to the deck file (in field `B` of note `n0`)",
        "8:35: error: image `FILE:/etc/passwd` is a file: address, which a card cannot load; put the file "
        "in the deck's folder and name it relative to the deck file (in field `B` of note `n1`)",
        "9:35: warning: link `file:///tmp/notes.pdf` is a file: address, which a card cannot load; put the "
        "file in the deck's folder and name it relative to the deck file; the link is dropped (in field `B` "
        "of note `n2`)",
    ]


def test_a_javascript_link_in_markdown_loses_its_address(tmp_path):
    path = _deck(tmp_path, "B: [x](javascript:alert(1))", "B: [y](JaVaScRiPt:alert(1))")
    built = check([str(path)])
    assert not built.errors
    assert [note.fields[2] for deck in built.decks for note in deck.notes] == [
        '<a rel="noopener noreferrer">x</a>',
        '<a rel="noopener noreferrer">y</a>',
    ]
