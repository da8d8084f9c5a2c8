"""Which cards a note of a custom type gets, and how they render: factdeck against Anki itself.

Generated templates (field references, filters, `{{#F}}`/`{{^F}}` sections nested, comments,
special fields) and generated field values (empty, whitespace, HTML that Anki counts as
empty, non-breaking spaces, ...). For each, the note type is created through Anki's own model
manager and a note added through `add_note`, so Anki decides; factdeck must agree.

Cloze types too: generated fronts with `{{#F}}`/`{{^F}}`/`{{#c2}}` sections around their
`{{cloze:...}}` (and filters before it), on fields factdeck renders from Markdown holding clozes
in attributes, in link addresses and made by escaped braces. Which cards Anki makes, which of
them show no gap on the front and which clozes break a tag must be what factdeck says.
"""

from __future__ import annotations

import itertools
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from factdeck import templates
from factdeck.assemble import Built, custom_card_ords
from factdeck.cardhtml import render_card
from factdeck.notetypes import Field, NoteType

FIELDS = ("A", "B", "C")
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))

names = st.sampled_from([*FIELDS, "Tags", "Deck", "Card", "Type", "Subdeck", "CardFlag"])
filters = st.sampled_from(["", "text:", "hint:", "type:", "kana:", "kanji:", "furigana:", "text:kana:"])
leaf = st.one_of(
    st.sampled_from(["x", " ", "<br>", "&nbsp;", "}}", "{", "<!-- {{A}} -->", "\n", "字[じ] "]),
    st.builds(lambda f, n: "{{" + f + n + "}}", filters, names),
    st.builds(lambda n: "{{ " + n + " }}", names),
    st.sampled_from(["{{}}", "{{text:}}", "{{#}}"]),
)


def _section(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.builds(
        lambda head, key, body: "{{" + head + key + "}}" + body + "{{/" + key + "}}",
        st.sampled_from(["#", "^"]),
        st.sampled_from([*FIELDS, "Tags", "Deck", "CardID", "Card", "CardFlag", "Type", "c1", "c2"]),
        children,
    )


template_text = st.recursive(
    st.lists(leaf, max_size=4).map("".join),
    lambda inner: st.lists(st.one_of(leaf, _section(inner)), min_size=1, max_size=4).map("".join),
    max_leaves=8,
)
field_value = st.sampled_from(
    [
        "",
        " ",
        "\n\t",
        "<br>",
        "<BR />",
        "<div></div>",
        "<div> <br/></div>",
        "\xa0",
        "&nbsp;",
        "x",
        "<p></p>",
        "<b></b>",
        "\u2003",
        "<div>x</div>",
        "0",
        "漢字[かんじ]",
        "a&amp;b",
        "<style>x</style>y",
    ]
)


class _Anki:
    """One collection for a whole property test; each example adds its own note type."""

    def __init__(self) -> None:
        from anki.collection import Collection

        self.folder = tempfile.TemporaryDirectory(prefix="factdeck-anki-")
        self.col = Collection(str(Path(self.folder.name) / "c.anki2"))
        self.counter = itertools.count()

    def add_notetype(self, cloze: bool, cards: list[tuple[str, str, str]], fields=FIELDS):
        """The note type through Anki's model manager, or None when Anki refuses it."""
        mm = self.col.models
        model = mm.new(f"generated {next(self.counter)}")
        model["type"] = 1 if cloze else 0
        for name in fields:
            mm.add_field(model, mm.new_field(name))
        for name, front, back in cards:
            template = mm.new_template(name)
            template["qfmt"], template["afmt"] = front, back
            mm.add_template(model, template)
        try:
            mm.add(model)
        except Exception:
            return None
        return mm.by_name(model["name"])

    def cards(self, model, values: list[str], tags: list[str]):
        note = self.col.new_note(model)
        for i, value in enumerate(values):
            note.fields[i] = value
        note.tags = tags
        self.col.add_note(note, self.col.decks.id("Default"))
        return sorted(note.cards(), key=lambda c: c.ord)

    def close(self) -> None:
        self.col.close()
        self.folder.cleanup()


@pytest.fixture(scope="module")
def anki_col():
    col = _Anki()
    yield col
    col.close()


def _notetype(cloze: bool, cards: list[tuple[str, str, str]], fields=FIELDS, name="generated") -> NoteType:
    return NoteType(
        key="generated",
        id=1,
        name=name,
        fields=tuple(Field(f, f) for f in fields),
        templates=tuple(cards),
        css="",
        cloze=cloze,
        custom=True,
        fronts=tuple(templates.parse(front) for _, front, _ in cards),
    )


def factdeck_accepts(cards: list[tuple[str, str, str]], fields=FIELDS) -> bool:
    """What customtypes checks for a standard type's templates, without the YAML around them."""
    try:
        parsed = [(templates.parse(front), templates.parse(back)) for _, front, back in cards]
    except templates.TemplateError:
        return False
    if templates.duplicate_front([front for _, front, _ in cards]):
        return False
    if any(templates.has_empty_replacement(side) for pair in parsed for side in pair):
        return False
    known = {*fields, *templates.SPECIAL_FIELDS, ""}
    if any(not templates.referenced_fields(side) <= known for pair in parsed for side in pair):
        return False
    return all(templates.can_show_something(front, fields) for front, _ in parsed)


@SETTINGS
@given(
    fronts=st.lists(template_text, min_size=1, max_size=3),
    values=st.lists(field_value, min_size=3, max_size=3),
    tagged=st.booleans(),
)
def test_standard_cards_are_the_ones_anki_generates(anki_col, fronts, values, tagged):
    cards = [(f"T{i}", front, "{{FrontSide}}<hr id=answer>{{B}}") for i, front in enumerate(fronts)]
    accepted = factdeck_accepts(cards)
    model = anki_col.add_notetype(False, cards)
    if model is None:
        assert not accepted, f"Anki refuses {fronts!r}, factdeck accepts it"
        event("Anki and factdeck refuse the note type")
        return
    tags = ["t"] if tagged else []
    if not accepted:
        # Anki takes it, but a front that factdeck says can never show anything never makes
        # a card (beyond the blank first card Anki adds to a note that would have none)
        event("factdeck refuses a note type Anki accepts")
        never = [
            i
            for i, (_, front, _) in enumerate(cards)
            if not templates.can_show_something(templates.parse(front), FIELDS)
        ]
        made = [c.ord for c in anki_col.cards(model, values, tags)]
        assert made == [0] or not set(never) & set(made), (fronts, values, made)
        return
    anki_cards = anki_col.cards(model, values, tags)
    ours = custom_card_ords(_notetype(False, cards), values, tagged)
    event(f"{len(ours)} cards")
    if ours:
        assert ours == [c.ord for c in anki_cards], (fronts, values)
    else:  # Anki adds a blank first card to a note that makes none; factdeck refuses the note
        assert [c.ord for c in anki_cards] == [0]
        return
    if any("hint:" in front or "type:" in front for front in fronts):
        return  # the preview shows hints open and no type-in box, where Anki needs its reviewer
    nt = _notetype(False, cards, name=model["name"])
    note = Built("n", "g", nt, "\x1f".join(values), tags, ours, "h", [])
    for card in anki_cards:
        question, answer = render_card(note, card.ord, "Default")
        assert _without_style(card.question()) == question, (fronts[card.ord], values)
        assert _without_style(card.answer()) == answer, (fronts[card.ord], values)


cloze_piece = st.sampled_from(
    [
        "{{c1::",
        "{{c2::",
        "{{c3::",
        "{{c12::",
        "{{c1,3::",
        "{{c0::",
        "{{c",
        "}}",
        "::",
        "a",
        " ",
        "<br>",
        "<b>",
        "x",
    ]
)


def _well_formed_clozes(pieces: list[str]) -> str:
    """Balanced cloze markers (until cloze.card_numbers reads malformed ones as Anki does)."""
    out, depth = [], 0
    for piece in pieces:
        if piece == "}}":
            if depth == 0:
                continue
            out.append("x}}")
            depth -= 1
        elif piece.startswith("{{c"):
            out.append(piece)
            depth += 1
        else:
            out.append(piece)
    return "".join(out) + "x}}" * depth


cloze_text = st.one_of(
    st.lists(cloze_piece, max_size=10).map(_well_formed_clozes),
    st.lists(cloze_piece, max_size=12).map("".join),  # unbalanced, stray `}}`, c0, `c1,3`
)


@SETTINGS
@given(text=cloze_text, extra=st.one_of(field_value, cloze_text), other=field_value)
def test_cloze_cards_are_the_ones_anki_generates(anki_col, text, extra, other):
    cards = [("Cloze", "{{cloze:A}}", "{{cloze:A}}<br>{{B}}{{#C}}{{C}}{{/C}}")]
    model = anki_col.add_notetype(True, cards)
    assert model is not None
    values = [text, extra, other]
    ours = custom_card_ords(_notetype(True, cards), values, False)
    anki_cards = anki_col.cards(model, values, [])
    if ours:
        assert ours == [c.ord for c in anki_cards], values
    else:
        assert [c.ord for c in anki_cards] == [0]
        return
    note = Built("n", "g", _notetype(True, cards, name=model["name"]), "\x1f".join(values), [], ours, "h", [])
    for card in anki_cards:
        if card.ord + 1 not in templates_cloze_numbers(text):
            continue  # a card from a cloze only in B: Anki shows the cloze text without a gap
        question, answer = render_card(note, card.ord, "Default")
        assert _without_cloze_attr(card.question()) == _without_cloze_attr(question), values
        assert _without_cloze_attr(card.answer()) == _without_cloze_attr(answer), values


# --- cloze fronts with sections, clozes in tags and braces Markdown makes ---------------------

cloze_site = st.sampled_from(["{{cloze:A}}", "{{cloze:B}}", "{{cloze:text:A}}", "{{cloze:cloze:B}}", "Q "])
section_key = st.sampled_from(["A", "B", "C", "Tags", "Deck", "c1", "c2", "c3", "c01", "c+1"])


def _cloze_section(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.builds(
        lambda head, key, body: "{{" + head + key + "}}" + body + "{{/" + key + "}}",
        st.sampled_from(["#", "^"]),
        section_key,
        children,
    )


cloze_front = st.recursive(
    st.lists(cloze_site, min_size=1, max_size=3).map("".join),
    lambda inner: st.lists(st.one_of(cloze_site, _cloze_section(inner)), min_size=1, max_size=3).map("".join),
    max_leaves=6,
)
# Typed Markdown: clozes in attributes an image or `title` keeps, in a link address (dropped),
# braces Markdown escapes or character references make, and text that holds no cloze
typed_piece = st.sampled_from(
    [
        "{{c1::a}}",
        "{{c2::b}}",
        "{{c3::c::hint}}",
        "{{c1::x {{c2::y}}}}",
        '<b title="{{c2::t}}">y</b>',
        '<i title="{{x}}">i</i>',
        '{{c3::s <i title="e}}">i</i>',
        "![{{c1::p}}](https://example.org/p.png)",
        "[l](https://example.org/{{c3::u}})",
        "{\\{c2::e\\}\\}",
        "&#123;&#123;c3::r&#125;&#125;",
        "\\{{c1::q}}",
        "{{c2::<!-- c -->k}}",
        "x",
        " ",
        "<br>",
    ]
)
typed_field = st.one_of(st.just(""), st.lists(typed_piece, min_size=1, max_size=4).map(" ".join))


def _anki_shows_gap(question: str, number: int) -> bool:
    """Whether Anki's question has the gap of cloze ``number`` as a real element, as an HTML
    parser reads it (a span written into an attribute is no element)."""
    from html.parser import HTMLParser

    found = []

    class Gaps(HTMLParser):
        def handle_starttag(self, tag, attrs):
            attributes = dict(attrs)
            if tag == "span" and attributes.get("class") == "cloze" and "data-cloze" in attributes:
                found.append(str(number) in (attributes.get("data-ordinal") or "").split(","))

    parser = Gaps()
    parser.feed(_without_style(question))
    parser.close()
    return any(found)


def _anki_breaks_a_tag(side: str) -> bool:
    """A span written into an attribute: on the answer, where Anki wraps every cloze it reveals
    in a span, a cloze that opens or closes inside a tag always leaves one there."""
    from html.parser import HTMLParser

    broken = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag, attrs):
            # data-cloze holds the hidden text, nested clozes' HTML included, escaped
            broken.extend("span" in (value or "") for name, value in attrs if name != "data-cloze")

    parser = Tags()
    parser.feed(_without_style(side))
    parser.close()
    return any(broken)


@settings(SETTINGS, max_examples=500)
@given(
    front=cloze_front,
    typed=st.lists(typed_field, min_size=3, max_size=3),
    tagged=st.booleans(),
    html_a=st.booleans(),
)
def test_cloze_cards_and_their_gaps_are_the_ones_anki_makes(anki_col, front, typed, tagged, html_a):
    """factdeck's cards, the cards whose front shows no gap, and the clozes that break a tag,
    against Anki's own generation and rendering, on fields rendered from Markdown by factdeck."""
    from factdeck import cardhtml, cloze
    from factdeck.render import Renderer, html_field

    if any(cloze.scan(text)[1] for text in typed[:2]):
        return  # factdeck refuses malformed clozes in a clozed field as typed
    renderer = Renderer(tempfile.gettempdir())
    values = [renderer.field(text)[0] for text in typed]
    if html_a:  # A as a `format: html` field: comments removed, attributes kept as written
        values[0] = html_field(renderer, typed[0])[0]
    cards = [("Cloze", front, "{{cloze:A}}<br>{{cloze:B}}<br>{{C}}")]
    model = anki_col.add_notetype(True, cards)
    if model is None:  # a front without `{{cloze:...}}`: factdeck refuses it too
        assert not templates.cloze_fields(templates.parse(front)), front
        return
    nt = _notetype(True, cards)
    tags = ["t"] if tagged else []
    ours = custom_card_ords(nt, values, tagged)
    anki_cards = anki_col.cards(model, values, tags)
    if not ours:
        assert [c.ord for c in anki_cards] == [0], values
        return
    assert ours == [c.ord for c in anki_cards], values
    gapless = {number for number, _, _ in cardhtml.missing_gaps(nt, values, tagged, ours)}
    in_tag = any(cloze.breakage(v)[0] and cloze.card_numbers(v) for v in values[:2])
    event(f"{len(gapless)} of {len(ours)} cards without a gap" + (", a cloze in a tag" if in_tag else ""))
    if in_tag:  # factdeck refuses the note: Anki breaks the tag on the cards that reveal it
        assert any(_anki_breaks_a_tag(c.answer()) for c in anki_cards), values
        return
    assert not any(_anki_breaks_a_tag(c.question() + c.answer()) for c in anki_cards), values
    for card in anki_cards:
        assert (card.ord + 1 not in gapless) == _anki_shows_gap(card.question(), card.ord + 1), (
            front,
            values,
            card.ord,
            card.question(),
        )
    if not templates.can_show_gap(templates.parse(front), FIELDS):
        assert gapless == {c.ord + 1 for c in anki_cards}, front


def templates_cloze_numbers(text: str) -> set[int]:
    from factdeck.cloze import card_numbers

    return card_numbers(text)


def test_anki_counts_clozes_in_every_field_not_only_the_clozed_one(anki_col):
    cards = [("Cloze", "{{cloze:A}}", "{{cloze:A}}")]
    model = anki_col.add_notetype(True, cards)
    values = ["{{c1::a}}", "{{c2::b}}", ""]
    assert [c.ord for c in anki_col.cards(model, values, [])] == [0, 1]
    assert custom_card_ords(_notetype(True, cards), values, False) == [0, 1]


def _without_style(fragment: str) -> str:
    return re.sub(r"^<style>.*?</style>", "", fragment, flags=re.S)


def _without_cloze_attr(fragment: str) -> str:
    return re.sub(r' data-cloze="[^"]*"', "", _without_style(fragment))


@pytest.mark.parametrize("cloze", [False, True])
def test_a_field_named_like_a_special_field_hides_it_as_in_anki(anki_col, cloze):
    fields = ("Text", "Deck", "Tags", "c1")
    front = "{{cloze:Text}}|" if cloze else "{{Text}}|"
    front += "{{Deck}}|{{#Deck}}D{{/Deck}}|{{Tags}}|{{#Tags}}T{{/Tags}}|{{#c1}}C{{/c1}}"
    cards = [("Cloze" if cloze else "Card 1", front, "{{cloze:Text}}" if cloze else "{{FrontSide}}")]
    model = anki_col.add_notetype(cloze, cards, fields=fields)
    values = ["{{c1::a}}" if cloze else "a", "mine", "", ""]
    (card,) = anki_col.cards(model, values, ["tagged"])
    nt = _notetype(cloze, cards, fields=fields, name=model["name"])
    question, _ = render_card(
        Built("n", "g", nt, "\x1f".join(values), ["tagged"], [0], "h", []), 0, "Default"
    )
    assert _without_cloze_attr(card.question()) == _without_cloze_attr(question)
