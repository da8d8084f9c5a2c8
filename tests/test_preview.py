"""`factdeck preview`: the renderer against the real Anki library, the page in a real browser.

The browser tests drive Debian's Chromium (``apt-get install chromium``) through playwright
(never ``playwright install``). Where Chromium or playwright is missing they are skipped with
the reason, except under CI (``CI`` set), where a missing browser fails the run instead of
silently skipping it.

``python tests/test_preview.py [OUT.png]`` takes the README's screenshot (default
docs/preview.png) from the decks in decks/, or from the demo deck below when there are none.
"""

from __future__ import annotations

import base64
import hashlib
import html
import http.server
import os
import re
import socket
import struct
import sys
import tempfile
import threading
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from factdeck import build as pipeline
from factdeck.assemble import Built
from factdeck.cardhtml import render_card, reveal_clozes
from factdeck.cli import cli
from factdeck.cloze import card_numbers as cloze_numbers
from factdeck.notetypes import BY_KEY, Field, NoteType
from factdeck.preview import (
    asset,
    page,
    site_data,
    without_remote_images,
    write_site,
)

CHROMIUM = os.environ.get("FACTDECK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parent.parent


def png(width: int = 48, height: int = 32, rgb=(11, 99, 196)) -> bytes:
    """A small solid-colour PNG, made here so the tests ship no binary file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


DEMO = """\
version: 1
deck:
  id: world-geography
  name: Geography::Capitals
  description: Capitals and flags, checked against *Wikipedia*.
tags: [geography]
sources:
  wiki:
    title: Wikipedia, List of national capitals
    url: https://en.wikipedia.org/wiki/List_of_national_capitals
notes:
  - id: capital-australia
    text: "The capital of {{c2::Australia::country}} is {{c1::Canberra}}, not Sydney."
    extra: Canberra was purpose-built as a compromise between Sydney and Melbourne.
    sources: [wiki]
    tags: [oceania]
  - id: capital-france
    front: What is the capital of **France**?
    back: Paris
    extra: On the Seine; capital since 508 AD, with short interruptions.
    sources: [wiki]
    tags: [europe]
  - id: flag-blue
    front: "Which colour is this swatch? ![swatch](swatch.png)"
    back: Blue
    tags: [europe::flags]
  - id: hund
    type: basic-reversed
    front: der Hund
    back: the dog
    tags: [german]
  - id: rivers
    text: "The {{c1::Danube}} flows through {{c2::ten}} countries, more than any other river."
    tags: [europe]
"""

SCIENCE = """\
version: 1
deck:
  id: science
  name: Science
notes:
  - id: water
    front: Chemical formula of water?
    back: "H<sub>2</sub>O"
  - id: light
    text: "Light travels at about {{c1::300,000 km/s}} in a vacuum."
"""

# Cases where a faithful renderer is easy to get wrong, compared with Anki below.
TRICKY = r"""
version: 1
deck:
  id: tricky
  name: Tricky::Cases
tags: [t]
sources:
  s:
    title: A <source> & "more"
notes:
  - id: nested
    text: "{{c1::outer {{c2::inner::in-hint}} tail::out-hint}} and {{c3::x}} then x < y & z"
  - id: repeated
    text: "{{c1::one}} and {{c1::again}} but {{c2::two}}"
  - id: markdown
    text: "**{{c1::bold** cut}} then `{{c2::code}}` and\n\n- {{c3::item}}\n- b"
  - id: math
    text: "\\( {{c1::x^2}} \\) and \\[ {{c2::\\frac{a}{b}}} \\]"
    extra: "extra with <br> and **bold**"
  - id: plain-basic
    front: Front only
    back: "Back with a [link](https://example.org), ~~struck~~ text and a table:\n\n| a | b |\n|:--|--:|\n| 1 | ~~2~~ |"
    extra: "  "
    sources: [s]
  - id: reversed
    type: basic-reversed
    front: "line one\nline two"
    back: "<i>italic</i> & more"
    extra: x
"""


def write_deck(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def demo_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "decks"
    write_deck(folder, "geography.yaml", DEMO)
    write_deck(folder, "science.yaml", SCIENCE)
    (folder / "swatch.png").write_bytes(png())
    return folder


def visible_text(fragment: str) -> str:
    fragment = re.sub(r"<style>.*?</style>", "", fragment, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]*>", " ", fragment)).split())


def without_cloze_attr(fragment: str) -> str:
    """Anki encodes the data-cloze attribute with hex entities; everything else is compared exactly."""
    return re.sub(r' data-cloze="[^"]*"', "", re.sub(r"<style>.*?</style>", "", fragment, flags=re.S))


# --- the renderer -------------------------------------------------------------------------


def test_cloze_front_hides_and_back_reveals():
    text = "{{c1::Canberra}} is in {{c2::Australia::country}}"
    assert reveal_clozes(text, 1, True) == (
        '<span class="cloze" data-cloze="Canberra" data-ordinal="1">[...]</span> is in '
        '<span class="cloze-inactive" data-ordinal="2">Australia</span>'
    )
    assert reveal_clozes(text, 1, False) == (
        '<span class="cloze" data-ordinal="1">Canberra</span> is in '
        '<span class="cloze-inactive" data-ordinal="2">Australia</span>'
    )
    assert visible_text(reveal_clozes(text, 2, True)) == "Canberra is in [country]"
    assert reveal_clozes(text, 3, True) == ""  # Anki: no such cloze, empty card


def test_cloze_edge_cases():
    nested = "{{c1::a {{c2::b}} c}}"
    assert visible_text(reveal_clozes(nested, 1, True)) == "[...]"
    assert visible_text(reveal_clozes(nested, 2, True)) == "a [...] c"
    assert visible_text(reveal_clozes(nested, 1, False)) == "a b c"
    assert reveal_clozes("x }} {{c1::y}}", 1, False).startswith("x }} ")  # stray closer stays text
    assert visible_text(reveal_clozes("{{c1::a}} {{c2::never closed", 1, False)) == "a"
    assert reveal_clozes(r"\({{c1::x}}\)", 1, True) == r"\([...]\)"  # no tags inside MathJax
    assert cloze_numbers("{{c1::a {{c3::b}}}} {{c0::z}} {{c99999999::q}}") == {1, 3}


def test_template_sections_and_frontside():
    basic = BY_KEY["basic"]
    note = Built("n", "g", basic, "\x1f".join(["Q", "A", "<br><div></div> ", "", "n"]), ["x"], [0], "h", [])
    question, answer = render_card(note, 0)
    assert question == '<div class="fd-card"><div class="fd-question">Q</div></div>'
    assert "fd-extra" not in answer and "fd-sources-box" not in answer  # <br>/<div> only: empty
    note = note._replace(flds="\x1f".join(["Q", "A", "more", "", "n"]))
    assert '<div class="fd-extra">more</div>' in render_card(note, 0)[1]


def test_renders_like_anki(tmp_path: Path):
    """Every card of every note type, against the real Anki: same text, same HTML."""
    from anki.collection import Collection, ImportAnkiPackageOptions, ImportAnkiPackageRequest

    deck = write_deck(tmp_path, "tricky.yaml", TRICKY)
    result = pipeline.build([str(deck)], output=tmp_path / "x.apkg", now=1700000000)
    assert not result.errors, result.errors
    built = pipeline.check([str(deck)]).decks[0]
    notes = {n.id: n for n in built.notes}
    assert {n.notetype.key for n in notes.values()} == set(BY_KEY)

    col = Collection(str(tmp_path / "c.anki2"))
    try:
        col.import_anki_package(
            ImportAnkiPackageRequest(
                package_path=str(tmp_path / "x.apkg"), options=ImportAnkiPackageOptions()
            )
        )
        seen = set()
        for cid in col.find_cards(""):
            card = col.get_card(cid)
            note = notes[card.note()["ID"]]
            seen.add((note.id, card.ord))
            question, answer = render_card(note, card.ord, built.deck.name)
            anki_q, anki_a = card.question(), card.answer()
            assert f"<style>{note.notetype.css}</style>" in anki_q  # the CSS the page embeds
            assert visible_text(question) == visible_text(anki_q), (note.id, card.ord)
            assert visible_text(answer) == visible_text(anki_a), (note.id, card.ord)
            assert without_cloze_attr(question) == without_cloze_attr(anki_q), (note.id, card.ord)
            assert without_cloze_attr(answer) == without_cloze_attr(anki_a), (note.id, card.ord)
    finally:
        col.close()
    assert seen == {(n.id, o) for n in notes.values() for o in n.ords}


_PIECES = [
    "{{c1::",
    "{{c2::",
    "{{c3::",
    "}}",
    "::",
    "a",
    "b ",
    "<b>",
    "</b>",
    r"\(",
    r"\)",
    "{{",
    "{{c0::",
    "x",
]


@settings(max_examples=120, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=14).map("".join))
def test_cloze_matches_anki_on_arbitrary_text(anki_cloze, text):
    """Texts factdeck's validator would reject too: stray ``}}``, unclosed clozes, c0, MathJax."""
    col, notetype = anki_cloze
    note = col.new_note(notetype)
    note["Text"] = text
    col.add_note(note, col.decks.id("Default"))
    ours = Built("x", "g", BY_KEY["cloze"], "\x1f".join([text, "", "", ""]), [], [], "h", [])
    for card in note.cards():
        if card.ord + 1 not in cloze_numbers(text):
            continue  # Anki shows its "empty card" message; factdeck never makes such cards
        question, answer = render_card(ours, card.ord, "Default")
        assert without_cloze_attr(question) == without_cloze_attr(card.question()), text
        assert without_cloze_attr(answer) == without_cloze_attr(card.answer()), text


@pytest.fixture(scope="module")
def anki_cloze(tmp_path_factory):
    """A collection holding factdeck's cloze note type, to add notes with any text at all."""
    from anki.collection import Collection, ImportAnkiPackageOptions, ImportAnkiPackageRequest

    folder = tmp_path_factory.mktemp("anki")
    deck = write_deck(folder, "c.yaml", "deck: {id: c, name: C}\nnotes:\n  - id: a\n    text: '{{c1::x}}'\n")
    assert not pipeline.build([str(deck)], output=folder / "c.apkg", now=1700000000).errors
    col = Collection(str(folder / "c.anki2"))
    col.import_anki_package(
        ImportAnkiPackageRequest(package_path=str(folder / "c.apkg"), options=ImportAnkiPackageOptions())
    )
    yield col, col.models.by_name(BY_KEY["cloze"].name)
    col.close()


_MARKUP_AND_ENTITIES = [
    "<",
    ">",
    "</",
    "<!--",
    "-->",
    "<style>",
    "</style>",
    "<STYLE ",
    "<ſtyle>",
    "</ſtyle>",
    "<script>",
    "</script>",
    "<scrıpt>",
    "</scrİpt>",
    "<b>",
    "&",
    ";",
    "#",
    "x",
    "X",
    "41",
    "0",
    "110000",
    "d800",
    "amp",
    "AMP",
    "nbsp",
    "apos",
    "not",
    "&amp;",
    "&nbsp;",
    "&#65;",
    "&#x2F;",
    " ",
]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(_MARKUP_AND_ENTITIES), max_size=12).map("".join))
def test_text_filter_matches_anki(anki_text_filter, text):
    """``{{text:A}}``: Anki's strip_html, whose regex ignores case by Rust's rules (``ſ`` is an
    ``s``, ``ı`` no ``i``) and whose entity decoding leaves the text alone at any bad ``&``."""
    col, notetype = anki_text_filter
    text = "x" + text  # never empty: Anki shows a message on a card with an empty front
    note = col.new_note(notetype)
    note["A"] = text
    col.add_note(note, col.decks.id("Default"))
    built = Built("x", "g", _TEXT_FILTER_TYPE, text, [], [0], "h", [])
    question, _ = render_card(built, 0, "Default")
    assert question == re.sub(r"^<style>.*?</style>", "", note.cards()[0].question(), flags=re.S), text


def test_text_filter_decodes_every_html4_entity_as_anki_does(anki_text_filter):
    from html.entities import name2codepoint

    col, notetype = anki_text_filter
    names = [*sorted(name2codepoint), "apos", "NewLine", "bne", "Amp"]  # the last four: HTML5 only
    for name in names:
        note = col.new_note(notetype)
        note["A"] = f"&{name};"
        col.add_note(note, col.decks.id("Default"))
        anki = re.sub(r"^<style>.*?</style>", "", note.cards()[0].question(), flags=re.S)
        built = Built("x", "g", _TEXT_FILTER_TYPE, f"&{name};", [], [0], "h", [])
        assert render_card(built, 0, "Default")[0] == anki, name
        assert (anki == f"[&{name};]") == (name not in name2codepoint), name  # HTML5 names stay


_TEXT_FILTER_TYPE = NoteType(
    key="text-filter",
    id=1,
    name="text filter",
    fields=(Field("A", "A"),),
    templates=(("Card 1", "[{{text:A}}]", "{{FrontSide}}"),),
    css="",
    custom=True,
)


@pytest.fixture(scope="module")
def anki_text_filter(tmp_path_factory):
    """A collection with a note type whose front is ``[{{text:A}}]``."""
    from anki.collection import Collection

    col = Collection(str(tmp_path_factory.mktemp("anki") / "t.anki2"))
    mm = col.models
    model = mm.new(_TEXT_FILTER_TYPE.name)
    mm.add_field(model, mm.new_field("A"))
    template = mm.new_template("Card 1")
    template["qfmt"], template["afmt"] = _TEXT_FILTER_TYPE.templates[0][1:]
    mm.add_template(model, template)
    mm.add(model)
    yield col, mm.by_name(_TEXT_FILTER_TYPE.name)
    col.close()


# --- the site -----------------------------------------------------------------------------


def test_page_escapes_everything_it_adds(tmp_path: Path):
    evil = '<img src=x onerror="window.__pwned=1"> & </script>'
    deck = write_deck(
        tmp_path,
        "evil.yaml",
        f"deck: {{id: evil, name: '{evil}'}}\ntags: ['</script><script>window.__pwned=2</script>']\n"
        "notes:\n  - id: a\n    front: '`</script>` and <script>x</script>'\n    back: b\n",
    )
    checked = pipeline.check([str(deck)])
    assert not checked.errors, checked.errors
    text = page(checked.decks)
    assert text.count("<script") == 2 and text.count("</script>") == 2  # the data and the code
    assert "<img src=x" not in text and "&lt;img src=x onerror=&quot;window.__pwned=1&quot;&gt;" in text


def test_cli_writes_site_with_media(demo_dir: Path, tmp_path: Path):
    out = tmp_path / "site"
    result = CliRunner().invoke(cli, ["preview", str(demo_dir), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "10 cards from 2 decks" in result.output
    index = (out / "index.html").read_text(encoding="utf-8")
    media = [p.name for p in out.iterdir() if p.name != "index.html"]
    assert len(media) == 1 and media[0].startswith("factdeck-") and media[0] in index
    assert (out / media[0]).read_bytes() == png()
    assert "http://" not in index.replace("https://en.wikipedia.org", "")  # nothing loaded from a network


def test_cli_reports_errors_and_writes_nothing(tmp_path: Path):
    deck = write_deck(
        tmp_path, "bad.yaml", "deck: {id: bad, name: Bad}\nnotes:\n  - id: x\n    text: no cloze\n"
    )
    result = CliRunner().invoke(cli, ["preview", str(deck), "-o", str(tmp_path / "site")])
    assert result.exit_code == 1
    assert "bad.yaml" in result.output and "error" in result.output
    assert not (tmp_path / "site").exists()


# --- nothing from a network ---------------------------------------------------------------

REMOTE = """\
deck:
  id: remote
  name: Remote
  description: "A logo ![logo](https://example.org/logo.png) in the description"
notes:
  - id: md
    front: "Markdown image ![chart](https://example.org/chart.png)"
    back: "raw <img src=\\"http://example.org/raw.png\\" alt=\\"raw\\"> and a local ![s](swatch.png)"
  - id: plain
    front: q
    back: a
"""

# Forms a browser reads as an image fetching from a network (or the disk outside the page).
HOSTILE_IMAGES = [
    '<img src="https://example.org/a.png">',
    "<IMG SRC=http://example.org/b.png>",
    "<img src = 'http://example.org/c.png' alt='c'>",
    '<img\tsrc="//example.org/d.png">',
    '<img src="ht&#x74;p://example.org/e.png">',
    '<img src="h\ttt\np://example.org/f.png">',
    '<img src=" https://example.org/g.png ">',
    '<img src="a.png" srcset="b.png 1x, https://example.org/h.png 2x">',
    "<image src=https://example.org/i.png>",
    '<img src="file:///etc/passwd">',
    '<img src="/etc/passwd">',
    '<img/src="https://example.org/j.png">',
    '<p>x</p>\n<div><img src="https://example.org/k.png"/> after</div>',
    '<img src="https://example.org/l.png" alt=\'&lt;b&gt; "q"\'>',
]
LOCAL_IMAGES = ['<img src="factdeck-abc.png">', '<img src="data:image/png;base64,iVBORw0KGgo=">']


def csp_of(text: str) -> str:
    m = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', text)
    assert m, "no Content-Security-Policy meta"
    return html.unescape(m.group(1))


def test_page_policy_allows_no_network_and_only_its_own_script(demo_dir: Path):
    text = page(pipeline.check([str(demo_dir)]).decks)
    policy = {d.split()[0]: d.split()[1:] for d in (p.strip() for p in csp_of(text).split(";")) if d}
    assert policy["default-src"] == ["'none'"]
    assert policy["img-src"] == ["'self'", "data:"]
    assert text.index("Content-Security-Policy") < text.index("<style")  # before anything it governs
    scripts = re.findall(r"<script>(.*?)</script>", text, re.S)
    assert scripts == [asset("preview.js")]
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert policy["script-src"] == [f"'sha256-{digest}'"]


def test_remote_images_become_placeholders_naming_the_url(tmp_path: Path):
    deck = write_deck(tmp_path, "remote.yaml", REMOTE)
    (tmp_path / "swatch.png").write_bytes(png())
    checked = pipeline.check([str(deck)])
    assert not checked.errors, checked.errors
    text = page(checked.decks)
    assert not re.search(r"src=\\?[\"']?(https?:)?//", text)
    for url in (
        "https://example.org/logo.png",
        "https://example.org/chart.png",
        "http://example.org/raw.png",
    ):
        assert f"remote image not loaded: {url}" in text
    back = next(c["back"] for c in site_data(checked.decks)["cards"] if c["note"] == "md")
    assert re.search(r'<img src="factdeck-[0-9a-f]+\.png" alt="s">', back)  # the bundled image stays


@pytest.mark.parametrize("fragment", HOSTILE_IMAGES)
def test_every_form_of_remote_image_is_rewritten(fragment: str):
    out = without_remote_images(f"before {fragment} after")
    assert out.startswith("before ") and out.endswith(" after")
    assert "<img" not in out.lower() and "<image" not in out.lower()
    assert 'class="fd-preview-remote-image"' in out


@pytest.mark.parametrize("fragment", LOCAL_IMAGES)
def test_local_and_inline_images_are_kept(fragment: str):
    assert without_remote_images(f"x {fragment} y") == f"x {fragment} y"


@pytest.mark.parametrize(
    "fragment",
    [
        '<a title="<img src=http://example.org/a.png>">x</a>',  # inside an attribute: no tag
        "<!-- <img src=http://example.org/a.png> -->",
        "<script>var s = '<img src=http://example.org/a.png>';</script>",
        "<textarea><img src=http://example.org/a.png></textarea>",
        "<img src='http://example.org/unterminated.png",  # the text ends inside the tag: no image
    ],
)
def test_text_that_is_no_image_to_a_browser_is_left_alone(fragment: str):
    assert without_remote_images(fragment) == fragment


def test_rewrite_reads_large_hostile_markup_in_one_pass():
    """Inputs on which Python's HTMLParser takes minutes (unclosed tags, comments): one pass."""
    image = '<img src="http://example.org/x.png">'
    for filler in ("<a " * 30000 + ">", "<!--" * 20000 + "-->", "</" * 50000 + ">", "<?" * 50000 + ">"):
        out = without_remote_images(image + filler + image)
        assert out.count("remote image not loaded: http://example.org/x.png") == 2, filler[:8]


# --- in a real browser --------------------------------------------------------------------


def _browser_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package playwright is not installed (pip install -e '.[test]')"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


@pytest.fixture(scope="module")
def browser():
    reason = _browser_missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests, but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)  # playwright gives every launch a fresh, temporary profile
        yield b
        b.close()


def open_site(browser, index: Path, width: int = 1280, height: int = 900, scale: float = 1):
    page = browser.new_page(
        viewport={"width": width, "height": height}, device_scale_factor=scale, color_scheme="light"
    )
    page.problems, page.requests = [], []
    page.on("pageerror", lambda e: page.problems.append(str(e)))
    page.on("console", lambda m: page.problems.append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: page.requests.append(r.url))
    page.goto(index.as_uri())
    page.wait_for_selector("body[data-ready='1']")
    return page


def shown(page) -> list[str]:
    return page.locator(".fd-preview-card").evaluate_all(
        "els => els.filter(e => !e.hidden).map(e => e.dataset.noteId + '/' + e.dataset.ord)"
    )


def test_in_browser(browser, demo_dir: Path, tmp_path: Path):
    checked = pipeline.check([str(demo_dir)])
    index = write_site(checked.decks, tmp_path / "site")
    page = open_site(browser, index)
    try:
        assert len(shown(page)) == 10

        cloze = page.locator('.fd-preview-card[data-note-id="capital-australia"][data-ord="0"]')
        front = cloze.locator(".fd-preview-front").inner_text()
        back = cloze.locator(".fd-preview-back").inner_text()
        assert "[...]" in front and "Canberra" not in front and "Australia" in front
        assert "Canberra" in back and "[...]" not in back
        hint = page.locator(
            '.fd-preview-card[data-note-id="capital-australia"][data-ord="1"] .fd-preview-front'
        )
        assert "[country]" in hint.inner_text() and "Australia" not in hint.inner_text()
        # the note type's CSS applies: the revealed cloze is bold and blue, the card is Anki's .card
        answer_span = cloze.locator(".fd-preview-back .cloze")
        assert answer_span.evaluate("e => getComputedStyle(e).color") == "rgb(11, 99, 196)"
        assert answer_span.evaluate("e => getComputedStyle(e).fontWeight") == "700"
        assert cloze.locator(".fd-preview-back").evaluate("e => e.classList.contains('card')")
        # media copied beside the page and displayed
        assert page.locator(".fd-preview-front img").evaluate("i => i.complete && i.naturalWidth") == 48

        page.screenshot(path=str(tmp_path / "preview.png"), full_page=True)
        assert (tmp_path / "preview.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

        page.fill(".fd-preview-search", "canberra")
        assert shown(page) == ["capital-australia/0", "capital-australia/1"]
        assert "2 of 10 cards" in page.inner_text(".fd-preview-count")
        assert page.url.endswith("#q=canberra")  # a filtered view can be bookmarked
        page.fill(".fd-preview-search", "CAPITAL paris")  # every word, any case
        assert shown(page) == ["capital-france/0"]
        page.fill(".fd-preview-search", "zzz-nothing")
        assert shown(page) == [] and page.locator(".fd-preview-nomatch").is_visible()
        page.fill(".fd-preview-search", "")

        page.select_option(".fd-preview-deck-filter", "science")
        assert shown(page) == ["water/0", "light/0"]
        assert page.locator('.fd-preview-deck[data-deck="world-geography"]').is_hidden()
        page.select_option(".fd-preview-deck-filter", "")
        page.select_option(".fd-preview-tag-filter", "europe")  # a parent tag takes in europe::flags
        assert shown(page) == ["capital-france/0", "flag-blue/0", "rivers/0", "rivers/1"]
        page.select_option(".fd-preview-tag-filter", "")

        card = cloze.locator(".fd-preview-front")
        light = card.evaluate("e => getComputedStyle(e).backgroundColor")
        page.click(".fd-preview-night")
        assert page.evaluate("document.body.classList.contains('nightMode')")
        assert card.evaluate("e => e.classList.contains('nightMode') && e.classList.contains('night_mode')")
        assert card.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(44, 44, 44)" != light
        page.screenshot(path=str(tmp_path / "preview-night.png"))
        page.click(".fd-preview-night")
        assert not card.evaluate("e => e.classList.contains('nightMode')")

        assert page.problems == []
        assert all(url.startswith("file://") for url in page.requests), page.requests
    finally:
        page.close()


# Anki's reviewer gives every <hr> this rule (aqt 26.9.3, _aqt/data/web/css/reviewer.css); the
# card CSS must win over it, as it does in the desktop app.
ANKI_REVIEWER_HR = "hr{background-color:#737373;margin:1em 0;border:none;height:1px}"

LOOKS = """\
deck: {id: looks, name: Looks}
sources:
  a: {title: Label, url: "https://example.org/label"}
notes:
  - id: linked
    front: "See [the label](https://example.org/x)"
    back: "| a | b |\\n|--|--|\\n| 1 | ~~2~~ |"
    sources: [a]
"""


def test_in_browser_cards_look_native(browser, tmp_path: Path):
    """One rule between question and answer, links that look like links and like each other,
    Anki's own night background, and Sources of at least 15px on a phone."""
    deck = write_deck(tmp_path, "looks.yaml", LOOKS)
    index = write_site(pipeline.check([str(deck)]).decks, tmp_path / "site")
    for width in (1280, 400):
        page = open_site(browser, index, width=width)
        try:
            page.evaluate(  # after the card's CSS, where Anki's reviewer puts it too, in every card side
                """rule => { const sheet = new CSSStyleSheet(); sheet.replaceSync(rule);
                  for (const f of document.querySelectorAll(".fd-preview-frame"))
                    f.shadowRoot.adoptedStyleSheets = [...f.shadowRoot.adoptedStyleSheets, sheet]; }""",
                ANKI_REVIEWER_HR,
            )
            back = page.locator(".fd-preview-back")
            rule = back.locator("hr#answer").evaluate(
                """e => { const s = getComputedStyle(e);
                  return [e.getBoundingClientRect().height, s.backgroundColor, s.borderTopWidth]; }"""
            )
            assert rule == [1, "rgba(0, 0, 0, 0)", "1px"]  # the border alone: no second grey fill
            links = back.locator("a").evaluate_all(
                """els => els.map(e => { const s = getComputedStyle(e);
                  return [s.color, s.textDecorationLine]; })"""
            )
            assert len(links) == 2 and links[0] == links[1] and links[0][1] == "underline", links
            assert links[0][0] == "rgb(29, 78, 216)"  # Anki's --fg-link
            sources = back.locator(".fd-sources-box li").evaluate(
                "e => parseFloat(getComputedStyle(e).fontSize)"
            )
            assert sources >= 15, sources
            assert back.locator("table td s").count() == 1
            page.click(".fd-preview-night")
            assert (
                back.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(44, 44, 44)"
            )  # Anki's canvas
            night_links = back.locator("a").evaluate_all("els => els.map(e => getComputedStyle(e).color)")
            assert night_links == ["rgb(191, 219, 254)"] * 2  # Anki's night --fg-link
            assert page.problems == []
        finally:
            page.close()


def test_in_browser_content_cannot_escape(browser, tmp_path: Path):
    """A cloze cut across tags leaves an open <strong>: it must stay inside its own card side,
    and names with markup in them are shown as text, never run."""
    deck = write_deck(
        tmp_path,
        "d.yaml",
        "deck: {id: d, name: '<img src=x onerror=\"window.__pwned=1\">'}\n"
        "tags: ['</script><script>window.__pwned=2</script>']\n"
        "notes:\n  - id: cut\n    text: '**{{c1::bold** cut}} tail'\n"
        "  - id: after\n    front: plain\n    back: text\n",
    )
    checked = pipeline.check([str(deck)])
    page = open_site(browser, write_site(checked.decks, tmp_path / "site"))
    try:
        assert page.evaluate("window.__pwned") is None
        assert page.inner_text(".fd-preview-deck-name") == '<img src=x onerror="window.__pwned=1">'
        assert page.locator(".fd-preview-tag-filter option").nth(1).inner_text().startswith("</script>")
        after = page.locator('[data-note-id="after"] .fd-preview-front')
        assert after.locator("strong").count() == 0
        assert after.evaluate("e => getComputedStyle(e.querySelector('.fd-question')).fontWeight") == "600"
        assert page.locator(".fd-preview-card").count() == 2
        assert page.problems == []
    finally:
        page.close()


# A note type's CSS that closes more braces than it opens, to reach out of any wrapper around it;
# `check` refuses such CSS unless it is marked as imported as it was (css.UNCHECKED): the preview
# must still keep it to its own cards
BREAKOUT_CSS = (
    "/* factdeck: unchecked, kept as imported */ "
    ".card { color: rgb(1, 2, 3); } } } "
    ".fd-preview-bar, .fd-preview-card, .fd-question, .card:not(.mine) { display: none !important; } "
    "body { background: rgb(255, 0, 0) !important; } @scope (.fd-preview-card) { :scope { display: none; } } "
    "/* never closed { "
)
ISOLATION = """\
deck: {{id: iso, name: Isolation}}
notetypes:
  breakout:
    fields: [Q]
    templates: [{{front: "<div class=mine>{{{{Q}}}}</div>", back: "{{{{Q}}}}"}}]
    css: "{css}"
  plain:
    fields: [Q]
    templates: [{{front: "<p class=plain>{{{{Q}}}}</p>", back: "{{{{Q}}}}"}}]
    css: ".card {{ color: rgb(4, 5, 6); }}"
notes:
  - {{id: evil, type: breakout, fields: {{Q: evil}}}}
{others}"""


@pytest.mark.parametrize("alone", [False, True], ids=["among-other-types", "the-only-type"])
def test_in_browser_a_note_type_s_css_styles_only_its_own_cards(browser, tmp_path: Path, alone):
    """Unbalanced braces, `@scope` and an unclosed comment in one note type's CSS: its own cards
    take its rules, while the page and every other note type's cards look as they would without it."""
    others = (
        ""
        if alone
        else "  - {id: calm, type: plain, fields: {Q: calm}}\n  - {id: built-in, front: q, back: a}\n"
    )
    deck = write_deck(tmp_path, "iso.yaml", ISOLATION.format(css=BREAKOUT_CSS, others=others))
    checked = pipeline.check([str(deck)])
    assert not checked.errors, checked.errors
    page = open_site(browser, write_site(checked.decks, tmp_path / "site"))
    try:
        assert page.locator(".fd-preview-bar").is_visible()
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(236, 238, 241)"
        assert page.locator(".fd-preview-card").count() == (1 if alone else 3)
        assert all(page.locator(".fd-preview-card").evaluate_all("els => els.map(e => e.checkVisibility())"))
        evil = page.locator('[data-note-id="evil"] .fd-preview-front')
        assert evil.evaluate("e => getComputedStyle(e).color") == "rgb(1, 2, 3)"  # its own rule holds
        assert evil.locator(".mine").is_visible()
        if not alone:
            calm = page.locator('[data-note-id="calm"] .fd-preview-front')
            assert calm.evaluate("e => getComputedStyle(e).color") == "rgb(4, 5, 6)"
            assert calm.locator(".plain").is_visible()
            question = page.locator('[data-note-id="built-in"] .fd-preview-front .fd-question')
            assert question.is_visible() and question.evaluate("e => getComputedStyle(e).fontWeight") == "600"
        assert page.problems == []
    finally:
        page.close()


@pytest.fixture
def web_server():
    """A local HTTP server standing in for the network: the test counts what reaches it."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            self.wfile.write(png())

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def test_in_browser_nothing_is_fetched_from_a_network(browser, tmp_path: Path, web_server):
    url, hits = web_server
    deck = write_deck(
        tmp_path, "remote.yaml", REMOTE.replace("https://example.org", url).replace("http://example.org", url)
    )
    (tmp_path / "swatch.png").write_bytes(png())
    page = open_site(browser, write_site(pipeline.check([str(deck)]).decks, tmp_path / "site"))
    try:
        back = page.locator('[data-note-id="md"] .fd-preview-back')
        assert f"remote image not loaded: {url}/raw.png (raw)" in back.inner_text()
        assert back.locator("img").evaluate("i => i.complete && i.naturalWidth") == 48  # local: shown
        assert f"remote image not loaded: {url}/logo.png" in page.inner_text(".fd-preview-deck-description")
        # what the rewrite cannot see (CSS, media, script-made images) the policy still blocks
        blocked = page.evaluate(
            """url => new Promise(done => {
              const seen = [];
              document.addEventListener("securitypolicyviolation", e => {
                seen.push(e.effectiveDirective);
                if (seen.length === 3) done(seen.sort());
              });
              const card = document.querySelector(".fd-preview-frame").shadowRoot.querySelector(".card");
              const img = document.createElement("img");
              img.src = url + "/pixel.png";
              card.appendChild(img);
              card.insertAdjacentHTML("beforeend",
                '<div style="background: url(' + url + '/bg.png); width: 9px; height: 9px"></div>' +
                '<video src="' + url + '/v.mp4"></video>');
            })""",
            url,
        )
        assert blocked == ["img-src", "img-src", "media-src"]
        page.reload()
        page.wait_for_selector("body[data-ready='1']")
        assert hits == []  # the server was never asked for anything
        assert all("Content Security Policy" in p for p in page.problems), page.problems
    finally:
        page.close()


# In Chromium, the images of a fragment that would load something not beside the page.
_CHROMIUM_REMOTE_IMAGES = """html => {
  const t = document.createElement("template");
  t.innerHTML = html;
  const here = new URL(".", location.href).href;
  const remote = u => {
    const url = new URL(u, location.href);
    return url.protocol !== "data:" && !url.href.startsWith(here);
  };
  return Array.from(t.content.querySelectorAll("img"), i => {
    const urls = [i.getAttribute("src") || ""].concat(
      (i.getAttribute("srcset") || "").split(",").map(c => c.trim().split(/\\s+/)[0]));
    return urls.filter(u => u && remote(u));
  }).filter(urls => urls.length).map(urls => urls[0]);
}"""


@pytest.fixture(scope="module")
def blank_page(browser, tmp_path_factory):
    """A page at a file:// address, as the preview is, to resolve URLs against."""
    folder = tmp_path_factory.mktemp("blank")
    (folder / "index.html").write_text("<!doctype html><title>x</title>")
    page = browser.new_page()
    page.goto((folder / "index.html").as_uri())
    yield page
    page.close()


def test_in_browser_rewrite_sees_every_image_chromium_sees(blank_page):
    for fragment in HOSTILE_IMAGES:
        found = blank_page.evaluate(_CHROMIUM_REMOTE_IMAGES, fragment)
        assert found, f"Chromium reads no remote image in {fragment!r}: the case tests nothing"
        assert blank_page.evaluate(_CHROMIUM_REMOTE_IMAGES, without_remote_images(fragment)) == [], fragment
    for fragment in LOCAL_IMAGES:
        assert blank_page.evaluate(_CHROMIUM_REMOTE_IMAGES, fragment) == []


_MARKUP = [
    "<img",
    "<IMG",
    "<image",
    " src=",
    " SRC=",
    "srcset=",
    '"',
    "'",
    "=",
    " ",
    "\t",
    "\n",
    "/",
    ">",
    "<",
    "http://example.org/a.png",
    "//example.org/b",
    "a.png",
    "data:,x",
    "&#x68;",
    "&amp;",
    "<!--",
    "-->",
    "<!",
    "</",
    "<a title=",
    "<script>",
    "</script>",
    "<textarea>",
    "<b>",
    " 2x,",
    "x",
]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(_MARKUP), max_size=16).map("".join))
def test_in_browser_no_remote_image_survives_the_rewrite(blank_page, fragment):
    """Any mix of markup: Chromium finds no image fetching from a network in the rewritten HTML
    (<svg>/<math> content is left to the Content-Security-Policy)."""
    assert blank_page.evaluate(_CHROMIUM_REMOTE_IMAGES, without_remote_images(fragment)) == [], fragment


def test_in_browser_deck_ids_named_like_object_properties_filter_correctly(browser, tmp_path: Path):
    folder = tmp_path / "decks"
    write_deck(
        folder, "a.yaml", "deck: {id: constructor, name: Ctor}\nnotes:\n  - {id: c1, front: q, back: a}\n"
    )
    write_deck(folder, "b.yaml", SCIENCE)
    page = open_site(browser, write_site(pipeline.check([str(folder)]).decks, tmp_path / "site"))
    try:
        assert len(shown(page)) == 3
        page.select_option(".fd-preview-deck-filter", "science")
        assert shown(page) == ["water/0", "light/0"]
        assert page.locator('.fd-preview-deck[data-deck="constructor"]').is_hidden()
        page.select_option(".fd-preview-deck-filter", "constructor")
        assert shown(page) == ["c1/0"]
        assert page.locator('.fd-preview-deck[data-deck="science"]').is_hidden()
        page.fill(".fd-preview-search", "zzz-nothing")
        assert page.locator(".fd-preview-deck").evaluate_all("els => els.filter(e => !e.hidden).length") == 0
        assert page.problems == []
    finally:
        page.close()


# --- the README's screenshot --------------------------------------------------------------


def docs_screenshot(out: Path) -> Path:
    """Screenshot of the preview of decks/ (or of the demo deck) at a laptop viewport."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = ROOT
        if not any((ROOT / "decks").rglob("*.y*ml")):
            folder = tmp
            write_deck(tmp / "decks", "geography.yaml", DEMO)
            (tmp / "decks" / "swatch.png").write_bytes(png())
        cwd = os.getcwd()
        os.chdir(folder)  # so the page names the deck files as `factdeck preview` run there would
        try:
            checked = pipeline.check(["decks"])
        finally:
            os.chdir(cwd)
        if checked.errors:
            raise SystemExit("\n".join(d.format() for d in checked.errors))
        index = write_site(checked.decks, tmp / "site")
        with sync_playwright() as p:
            b = launch(p)
            page = open_site(b, index, width=1200, height=800)
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out))
            b.close()
    return out


if __name__ == "__main__":
    reason = _browser_missing()
    if reason:
        raise SystemExit(reason)
    print(docs_screenshot(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "preview.png"))


@pytest.fixture
def tcp_listener():
    """A port that counts connections: Chromium may open one without sending any request."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[object] = []

    def accept() -> None:
        while True:
            try:
                conn, address = listener.accept()
            except OSError:
                return
            accepted.append(address)
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    listener.close()


EMBEDDING = """\
deck: {{id: frames, name: Frames}}
notetypes:
  embed:
    fields: [Q]
    templates: [{{front: "{{{{Q}}}}{markup}", back: "{{{{Q}}}}"}}]
notes:
  - {{id: n, type: embed, fields: {{Q: q}}}}
"""


def test_in_browser_an_embedded_remote_page_connects_to_nothing(browser, tmp_path: Path, tcp_listener):
    """The policy (default-src 'none') stops the request, but Chromium has connected to the host
    by then: a template's <iframe> (Anki shows it) must not reach the page."""
    url, accepted = tcp_listener
    markup = f"<iframe src='{url}/page'></iframe><IFRAME SRC='{url}/upper'></IFRAME>"
    deck = write_deck(tmp_path, "frames.yaml", EMBEDDING.format(markup=markup))
    checked = pipeline.check([str(deck)])
    assert not checked.errors, checked.errors
    page = open_site(browser, write_site(checked.decks, tmp_path / "site"))
    try:
        front = page.locator('[data-note-id="n"] .fd-preview-front')
        assert f"remote page not loaded: {url}/page" in front.inner_text()
        page.wait_for_timeout(1000)
        assert accepted == []
    finally:
        page.close()


@pytest.mark.parametrize(
    "fragment",
    [
        "<iframe src='https://example.org/a'></iframe>",
        '<iframe\nSRC="//example.org/a">',
        "<frame src=http://example.org/a>",
        "<object data='https://example.org/a.html'></object>",
        "<embed src='https://example.org/a.swf'>",
        "<iframe src='&#104;ttps://example.org/a'></iframe>",
        # a frame's content is text to a browser: without the frame it would be markup
        "<iframe src=https://example.org/a><img src=https://example.org/b.png></iframe >",
        "<iframe src=https://example.org/a><img src=https://example.org/b.png>",
    ],
)
def test_every_embedded_remote_page_becomes_a_placeholder(fragment: str):
    out = without_remote_images(f"before {fragment} after")
    assert "fd-preview-remote-image" in out and out.startswith("before ")
    assert not re.search(r"<(iframe|frame|object|embed|img)\b", out, re.I)


@pytest.mark.parametrize(
    ("front", "field", "notes"),
    [
        pytest.param("{{Q}}" * 2000, "x" * 20_000, 1, id="a field shown 2,000 times"),
        pytest.param("{{Q}}" + "y" * 50_000, "q", 500, id="long template text on every card"),
    ],
)
def test_a_preview_s_card_text_is_bounded_by_the_deck_s_size(tmp_path, run, front, field, notes):
    """A deck of tens of kilobytes made a page of hundreds of megabytes (gigabytes at 200 KB)."""
    deck = tmp_path / "deck.yaml"
    rows = "".join(f"  - {{id: n{i}, type: m, fields: {{Q: {field}{i}}}}}\n" for i in range(notes))
    deck.write_text(
        "deck: {id: d, name: D}\nnotetypes:\n  m:\n    fields: [Q]\n"
        f'    templates: [{{front: "{front}", back: "{{{{FrontSide}}}}{{{{Q}}}}"}}]\nnotes:\n{rows}'
    )
    result = run("preview", deck, "-o", tmp_path / "site")
    assert result.exit_code == 1
    assert "characters, too many for one page" in result.output
    assert not (tmp_path / "site" / "index.html").exists()
