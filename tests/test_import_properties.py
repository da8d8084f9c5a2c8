"""Property tests of `factdeck import`'s choices: whatever a package's fields hold, the deck files
written for it build the same fields back, or the import names the notes that differ.

The packages here are what Anki hands the importer (``ankifiles.collection.Contents``), made
directly, so that hypothesis can try thousands of field values without an Anki round trip for
each; tests/test_import.py does the same with real Anki collections.
"""

from __future__ import annotations

import html
import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factdeck.ankifiles.collection import Card, Contents, Note, Notetype, Template
from factdeck.deckimport import _stage_and_prove, plan, slug, unique
from factdeck.validate import ID_RE, MAX_ID

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))

BASIC = Notetype(
    id=1_500_000_000_000,
    name="Basic",
    cloze=False,
    mod=1_600_000_000,
    fields=("Front", "Back"),
    templates=(Template("Card 1", "{{Front}}", "{{FrontSide}}<hr id=answer>{{Back}}"),),
    css=".card { color: black; }\n",
    sort_field=0,
    stock_kind=0,
    static_media=(),
)


def contents_of(values: list[tuple[str, str, tuple[str, ...]]]) -> Contents:
    notes = [
        Note(
            1_600_000_000_000 + 1000 * i,
            f"guid{i}",
            BASIC.id,
            1_600_000_000 + i,
            (front, back),
            tags,
            (Card(0, "Deck::Sub" if i % 2 else "Deck"),),
            (),
        )
        for i, (front, back, tags) in enumerate(values)
    ]
    return Contents(notetypes={BASIC.id: BASIC}, notes=notes)


def imported(values):
    """Plan and stage an import of notes with these (front, back, tags); the result and the built deck."""
    contents = contents_of(values)
    with tempfile.TemporaryDirectory() as tmp:
        result = plan(contents, Path(tmp) / "out", Path(tmp) / "deck.apkg")
        stage = Path(tmp) / "stage"
        stage.mkdir()
        ok = _stage_and_prove(result, stage)
    return result, ok


def editor_text(draw) -> str:
    """Text as Anki's editor stores it: escaped by the browser's serialiser (`&nbsp;` for U+00A0)."""
    raw = draw(st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=12))
    return html.escape(raw, quote=False).replace("\xa0", "&nbsp;")


@st.composite
def editor_html(draw, depth: int = 0) -> str:
    """HTML of the kind Anki's editor writes: well-formed, lowercase, quoted attributes."""
    parts = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["text", "text", "br", "b", "i", "div", "span", "table", "cloze"]))
        inner = draw(editor_html(depth + 1)) if depth < 2 else editor_text(draw)
        parts.append(
            {
                "text": editor_text(draw),
                "br": "<br>",
                "b": f"<b>{inner}</b>",
                "i": f"<i>{inner}</i>",
                "div": f"<div>{inner}</div>",
                "span": f'<span style="color: rgb(255, 0, 0);">{inner}</span>',
                "table": f"<table><tbody><tr><td>{inner}</td><td>x</td></tr></tbody></table>",
                "cloze": f"{{{{c{draw(st.integers(1, 3))}::{editor_text(draw)}}}}}",
            }[kind]
        )
    return "".join(parts)


TAGS = st.lists(
    st.from_regex(r"[A-Za-z0-9_]+(::[A-Za-z0-9_]+){0,2}", fullmatch=True), max_size=3, unique=True
)
FRONT = st.builds(lambda a, b: a + b, st.sampled_from(["Q", "Baclofen", "é", "1"]), editor_html())


@SETTINGS
@given(st.lists(st.tuples(FRONT, editor_html(), TAGS.map(tuple)), min_size=1, max_size=6))
def test_html_as_ankis_editor_writes_it_builds_back_byte_for_byte(values):
    result, ok = imported(values)
    assert ok, result.diagnostics
    assert result.warnings == []


# Plain text of any kind (YAML's special characters, Markdown's, line breaks, any script):
# the YAML and the Markdown, HTML or text choice must give every byte back. (A raw U+00A0 next
# to a line break has no exact form: sanitised HTML spells it `&nbsp;`, text turns the break
# into <br>; the import names such notes, see the test below.)
PLAIN = st.text(
    st.characters(exclude_categories=("Cs", "Cc"), exclude_characters="<>&\xa0") | st.sampled_from("\n\t"),
    max_size=40,
)


def test_a_raw_no_break_space_is_kept_as_text_and_one_with_a_line_break_is_named():
    result, ok = imported([("A", "\xa0", ()), ("B", "x\xa0y", ())])
    assert ok and result.warnings == []
    assert [nt.formats for nt in result.decks[0].notetypes.values()] == [["markdown", "text"]]
    result, ok = imported([("A", "\xa0\n", ())])
    assert ok
    assert result.warnings == [
        "deck.yaml: 1 notes will not build byte for byte as the package has them (factdeck removes "
        "unsafe HTML such as scripts, and spells sanitised HTML its own way): a (Back)"
    ]


@SETTINGS
@given(
    st.lists(st.tuples(st.from_regex(r"[A-Za-z]\w*", fullmatch=True) | PLAIN, PLAIN), min_size=1, max_size=6)
)
def test_plain_text_fields_build_back_byte_for_byte(values):
    values = [(front, back, ()) for front, back in values]
    result, ok = imported(values)
    fronts_that_make_cards = all(re.search(r"\S", front) for front, _, _ in values)
    if fronts_that_make_cards:
        assert ok, result.diagnostics
        assert result.warnings == []


ANY = st.text(max_size=30)


@SETTINGS
@given(st.lists(st.tuples(ANY, ANY), min_size=1, max_size=5))
def test_any_field_text_builds_back_or_the_import_names_the_note(values):
    values = [(front, back, ()) for front, back in values]
    result, ok = imported(values)
    if not ok:  # an error that names no note (factdeck left out every note it could not build)
        assert result.errors
        return
    known = re.compile(
        r"\S+\.yaml: \d+ notes will not build|left out note |\S+\.yaml: \d+ notes get other cards"
    )
    assert all(known.match(w) for w in result.warnings), result.warnings


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=80), min_size=1, max_size=20))
def test_note_ids_from_the_sort_field_are_valid_and_unique(sort_values):
    taken: set[str] = set()
    ids = [unique(slug(value), taken, "note") for value in sort_values]
    assert len(set(ids)) == len(ids)
    assert all(ID_RE.match(i) and len(i) <= MAX_ID for i in ids)
