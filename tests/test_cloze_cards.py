"""A cloze note has exactly the cards Anki makes from its final field HTML.

Anki counts cloze numbers in the stored HTML of every field, after our Markdown rendering and
sanitising. The oracle is real Anki: a note with the same fields is added to a fresh
collection, and the cards Anki generates for it are compared with the ones in our package.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from conftest import AnkiCollection
from factdeck import cloze
from factdeck.build import build, check


@pytest.fixture(scope="module")
def anki_cards(tmp_path_factory):
    """Which card ordinals real Anki generates for a note of its stock Cloze type."""
    col = AnkiCollection(tmp_path_factory.mktemp("anki") / "collection.anki2")
    notetype = col.col.models.by_name("Cloze")

    def cards(text: str, extra: str = "") -> list[int]:
        note = col.col.new_note(notetype)
        note["Text"], note["Back Extra"] = text, extra
        col.col.add_note(note, 1)
        return sorted(card.ord for card in note.cards())

    yield cards
    col.close()


TOKENS = [
    "{{c",
    "{{",
    "{",
    "c",
    "1",
    "2",
    "0",
    "10",
    "007",
    "65535",
    "65536",
    "٣",  # a digit, but not an ASCII one
    ",",
    "::",
    ":",
    "}}",
    "}",
    "x",
    " ",
    "<b>",
    "{{c1::",
    "{{c2::",
    "{{c3,1::",
    "{{c0::",
]
odd_cloze_text = st.lists(st.sampled_from(TOKENS), max_size=40).map("".join)
nested = st.builds(
    lambda numbers, closers, tail: "".join(f"{{{{c{n}::" for n in numbers) + "x" + "}}" * closers + tail,
    st.lists(st.integers(0, 20), min_size=1, max_size=14),
    st.integers(0, 16),
    st.sampled_from(["", " {{c1::y}}", "}}", " {{c21::z"]),
)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(odd_cloze_text, nested))
def test_card_numbers_are_the_ones_anki_makes_cards_for(anki_cards, text):
    ours = cloze.card_ords([text])
    assert (ours or [0]) == anki_cards(text)  # Anki gives a note without clozes card 1 anyway


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(odd_cloze_text, odd_cloze_text)
def test_every_field_counts_as_in_anki(anki_cards, text, extra):
    ours = cloze.card_ords([text, extra])
    assert (ours or [0]) == anki_cards(text, extra)


def _numbers_in_tree(nodes: list) -> set[int]:
    found: set[int] = set()
    for node in nodes:
        if isinstance(node, cloze.Cloze):
            found |= set(node.ordinals) | _numbers_in_tree(node.nodes)
    return found - {0}


@settings(max_examples=400, deadline=None)
@given(st.one_of(odd_cloze_text, nested))
def test_the_count_and_the_preview_s_tree_read_clozes_alike(text):
    """card_numbers counts what cloze.parse builds (the preview's reading), in a faster pass."""
    assert cloze.card_numbers(text) == _numbers_in_tree(cloze.parse(text))


def test_clozes_with_several_numbers_are_read_as_typed():
    assert cloze.scan("{{c1,2::a}} {{c3::b}}") == ({1, 2, 3}, [])
    assert cloze.scan("{{c2,1::}}")[1] == ["cloze c2,1 is empty"]
    assert cloze.scan("{{c0,1::a}}") == ({1}, ["cloze numbers start at 1: the 0 in `{{c0,1::` makes no card"])
    assert cloze.scan("{{c٣::a}}")[0] == set()  # not an ASCII digit: Anki reads no cloze there


def _build(tmp_path: Path, texts: list[str], extra: str = "") -> tuple[list[str], Path]:
    path = tmp_path / "deck.yaml"
    notes = "".join(
        f"  - id: n{i}\n    text: {_quote(text)}\n" + (f"    extra: {_quote(extra)}\n" if extra else "")
        for i, text in enumerate(texts)
    )
    path.write_text(f"deck: {{id: d, name: D}}\nnotes:\n{notes}")
    result = build([str(path)], output=tmp_path / "out.apkg", now=1_700_000_000)
    return [d.format() for d in result.errors], path


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


CASES = {
    "cloze made by Markdown escapes": "{{c1::a}} {\\{c2::b\\}\\}",
    "cloze made by character references": "{{c1::a}} &#123;&#123;c2::b&#125;&#125;",
    "cloze made by an entity in the number": "{{c1::a}} {{c&#50;::b}}",
    "several numbers in one cloze": "{{c1,2::a}}",
    "braces that are no cloze in an attribute": '{{c1::a}} <b title="{{x}}">y</b>',
}


@pytest.mark.parametrize("text", CASES.values(), ids=CASES.keys())
def test_package_holds_the_cards_anki_makes_from_the_final_html(tmp_path, anki, text):
    errors, _ = _build(tmp_path, [text])
    assert errors == []
    col = anki()
    col.import_package(tmp_path / "out.apkg")
    (note,) = col.notes().values()
    packaged = sorted(card.ord for card in note.cards())
    again = col.col.new_note(note.note_type())
    for name, value in note.items():
        again[name] = value
    col.col.add_note(again, 1)
    assert packaged == sorted(card.ord for card in again.cards())


LOST = (
    "does not survive rendering (a cloze in a link address, or in an attribute or other HTML the "
    "sanitiser removes, is dropped), so Anki makes no card for it"
)
IN_TAG = (
    "is inside an HTML tag (an attribute, such as an image's alt text or a title): Anki writes the "
    "HTML of its gap into the tag, which breaks the tag and shows the rest of it as text; move the "
    "cloze out of the tag"
)
BROKEN = {
    "cloze removed with a stripped attribute": (
        '{{c1::a}} <b onclick="{{c2::x}}">y</b>',
        f"cloze c2 in `text` of note `n0` {LOST}",
    ),
    "cloze removed with a link address": (
        "{{c1::a}} [link]({{c2::x}})",
        f"cloze c2 in `text` of note `n0` {LOST}",
    ),
    "nesting deeper than Anki reads": (
        "".join(f"{{{{c{n}::" for n in range(1, 12)) + "x" + "}}" * 11,
        "cloze c11 in `text` of note `n0` is nested more than 10 deep: Anki reads deeper openers as "
        "plain text, so Anki makes no card for it",
    ),
    "cloze kept in an allowed attribute": (
        '{{c1::a}} <b title="{{c3::t}}">y</b>',
        f"cloze c3 in `text` of note `n0` {IN_TAG}",
    ),
    "cloze in an image's alt text": (
        "{{c1::a}} ![{{c2::pump}}](https://example.org/p.png)",
        f"cloze c2 in `text` of note `n0` {IN_TAG}",
    ),
    "cloze closed inside an attribute": (
        '{{c1::a <b title="x}}">y</b>',
        f"cloze c1 in `text` of note `n0` {IN_TAG}",
    ),
    "cloze in a raw link address": (
        '{{c1::a}} <a href="https://example.org/{{c2::x}}">y</a>',
        f"cloze c2 in `text` of note `n0` {IN_TAG}",
    ),
    "cloze never closed once Markdown unescapes it": (
        "{{c1::a}} {\\{c2::b and the rest",
        "cloze c2 in `text` of note `n0` is never closed once rendered (Markdown escapes and character "
        "references make braces too): Anki drops it with everything after it",
    ),
}


@pytest.mark.parametrize("case", BROKEN.values(), ids=BROKEN.keys())
def test_a_cloze_that_makes_no_card_or_breaks_the_card_is_a_located_error(tmp_path, case):
    text, message = case
    errors, path = _build(tmp_path, [text])
    assert errors == [f"{path}:4:11: error: {message}"]


@pytest.mark.parametrize(
    "html",
    [
        '{{c1::a}} <b title="{{c3::t}}">y</b>',
        '{{c1::a}} <img src="p.png" alt="{{c2::pump}}">',
        '{{c1::a <b title="x}}">y</b>',
        '{{c1::a}} <a href="https://example.org/{{c2::x}}">y</a>',
    ],
)
def test_anki_breaks_the_tag_around_a_cloze_in_an_attribute_on_every_card(anki_cards_rendered, html):
    """Why a cloze in a tag is an error: Anki writes its span into the attribute, or swallows the
    start of the tag into the gap, so the rest of the tag shows as text (measured)."""
    assert cloze.breakage(html)[0]
    for question, answer in anki_cards_rendered(html):
        assert _broken(answer) and _broken(question), (question, answer)
    assert not any(
        _broken(q) or _broken(a) for q, a in anki_cards_rendered('{{c1::a}} <b title="{{x}}">y</b>')
    )


def _broken(fragment: str) -> bool:
    """A span written into an attribute, or a tag's `">` shown as text."""
    values, text = _parsed(fragment)
    return any("span" in (value or "") for value in values) or '">' in text


def _parsed(fragment: str) -> tuple[list[str | None], str]:
    """The attribute values and the text of an HTML fragment, as an HTML parser reads them."""
    from html.parser import HTMLParser

    values: list[str | None] = []
    text: list[str] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            values.extend(value for name, value in attrs if name != "data-cloze")  # the hidden text

        def handle_data(self, data):
            text.append(data)

    parser = Collect()
    parser.feed(fragment.split("</style>")[-1])
    parser.close()
    return values, "".join(text)


@pytest.fixture(scope="module")
def anki_cards_rendered(tmp_path_factory):
    """(question, answer) of every card real Anki makes for a note of its stock Cloze type."""
    col = AnkiCollection(tmp_path_factory.mktemp("anki-render") / "collection.anki2")
    notetype = col.col.models.by_name("Cloze")

    def cards(text: str, extra: str = "") -> list[tuple[str, str]]:
        note = col.col.new_note(notetype)
        note["Text"], note["Back Extra"] = text, extra
        col.col.add_note(note, 1)
        return [(card.question(), card.answer()) for card in sorted(note.cards(), key=lambda c: c.ord)]

    yield cards
    col.close()


def test_cloze_that_does_not_survive_rendering_is_a_located_error(tmp_path):
    errors, path = _build(tmp_path, ['<b onclick="{{c1::x}}">y</b>'])
    assert errors == [
        f"{path}:4:11: error: no cloze deletion of `text` of note `n0` survives rendering (a cloze "
        "in a link address, or in an attribute or other HTML the sanitiser removes, is dropped); Anki "
        "would make no card"
    ]


def test_empty_cloze_with_several_numbers_is_a_located_error(tmp_path):
    errors, path = _build(tmp_path, ["{{c1::a}} {{c1,2::}}"])
    assert errors == [f"{path}:4:11: error: cloze c1,2 is empty in `text` of note `n0`"]


def test_text_without_any_cloze_is_a_located_error(tmp_path):
    errors, path = _build(tmp_path, ["no cloze here"])
    assert errors == [
        f"{path}:4:11: error: `text` of note `n0` has no cloze deletion; mark one like `{{{{c1::answer}}}}`"
    ]


def test_cloze_only_in_extra_would_make_an_empty_card_and_is_an_error(tmp_path):
    errors, path = _build(tmp_path, ["{{c1::a}}"], extra="see {{c2::b}}")
    assert errors == [
        f"{path}:5:12: error: `extra` of note `n0` holds cloze c2, which `text` does not: Anki would "
        "make a card whose front shows no gap, asking nothing; write the cloze in `text` or take it out "
        "of `extra`"
    ]


def test_cloze_number_above_the_maximum_made_by_markdown_is_an_error(tmp_path):
    errors, _ = _build(tmp_path, ["{{c1::a}} {\\{c501::b\\}\\}"])
    assert [e.split(": error: ")[1] for e in errors] == [
        "cloze number c501 in `text` of note `n0` is above the supported maximum c500"
    ]


def test_checked_cards_match_the_built_cards(tmp_path):
    path = tmp_path / "deck.yaml"
    path.write_text(
        'deck: {id: d, name: D}\nnotes:\n  - id: a\n    text: "{{c1::a}} {\\\\{c2::b\\\\}\\\\}"\n'
    )
    (deck,) = check([str(path)]).decks
    assert deck.notes[0].ords == [0, 1]


typed_piece = st.sampled_from(
    [
        "{{c1::a}}",
        "{{c2::b}}",
        "{{c1::x {{c2::y}}}}",
        '<b title="{{c2::t}}">y</b>',
        '<i title="{{x}}">i</i>',
        '{{c3::s <i title="e}}">i</i>',
        "![{{c1::p}}](https://example.org/p.png)",
        "[l](https://example.org/{{c3::u}})",
        "{\\{c2::e\\}\\}",
        "{\\{c3::never closed",
        "&#123;&#123;c3::r&#125;&#125;",
        "\\{{c1::q}}",
        "x",
    ]
)
typed_text = st.lists(typed_piece, min_size=1, max_size=4).map(" ".join)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=typed_text, extra=st.one_of(st.just(""), typed_text))
@example(text='{{c1::a}} {\\{c3::never closed <b title="{{c2::t}}">y</b>', extra="")  # dropped with c3
def test_built_in_cloze_notes_factdeck_accepts_show_every_gap_in_anki(anki_cards_rendered, text, extra):
    """A built-in cloze note that checks clean has Anki's cards, each showing its gap with no
    broken tag; one that does not is refused for a reason Anki's rendering shows."""
    import tempfile

    from test_card_generation import _anki_breaks_a_tag, _anki_shows_gap

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "deck.yaml"
        lines = f"  - id: n\n    text: {_quote(text)}\n" + (f"    extra: {_quote(extra)}\n" if extra else "")
        path.write_text(f"deck: {{id: d, name: D}}\nnotes:\n{lines}")
        result = check([str(path)])
    errors = [d.message for d in result.errors]
    if not result.decks or not result.decks[0].notes:
        assert errors  # refused while reading (a malformed cloze as typed)
        return
    (note,) = result.decks[0].notes
    rendered = anki_cards_rendered(note.fields[0], note.fields[1])
    event("refused" if errors else "accepted")
    if not errors:
        assert len(rendered) == len(note.ords), (text, extra)
        for number, (question, answer) in zip((o + 1 for o in note.ords), rendered):
            assert _anki_shows_gap(question, number), (text, extra, question)
            assert not _anki_breaks_a_tag(question + answer), (text, extra)
        return
    for message in errors:
        if "inside an HTML tag" in message:
            assert any(_anki_breaks_a_tag(answer) for _, answer in rendered), (text, extra)
        elif "which `text` does not" in message:
            number = int(message.split("holds cloze c")[1].split(",")[0].split(" ")[0])
            assert not _anki_shows_gap(rendered[note.ords.index(number - 1)][0], number)
