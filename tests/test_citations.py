"""A citation may carry a locator after its key: `sources: [label §5.1]`."""

from __future__ import annotations

import re

from conftest import SIMPLE_DECK
from factdeck.build import check


def _sources_field(path, note_id):
    deck = check([str(path)]).decks[0]
    note = next(n for n in deck.notes if n.id == note_id)
    return note.fields[note.notetype.field_names.index("Sources")]


def test_a_locator_is_shown_after_the_source_title(write_deck):
    path = write_deck(
        SIMPLE_DECK.replace("    sources: [label]\n", "    sources: [label §5.1, label 2.2 Dosing]\n", 1)
    )
    html = _sources_field(path, "baclofen-moa")
    items = re.findall(r"<li>(.*?)</li>", html)
    assert len(items) == 2
    assert items[0].endswith("prescribing information</a>, §5.1")
    assert items[1].endswith("prescribing information</a>, 2.2 Dosing")


def test_a_citation_without_locator_is_unchanged(write_deck):
    path = write_deck(SIMPLE_DECK)
    assert _sources_field(path, "baclofen-moa").endswith("prescribing information</a></li></ul>")


def test_the_key_before_a_locator_is_validated(write_deck, run):
    path = write_deck(SIMPLE_DECK.replace("    sources: [label]\n", "    sources: [lable §5.1]\n", 1))
    result = run("check", path)
    assert result.exit_code == 1
    assert "error: source `lable` is not defined under `sources` (did you mean `label`?)" in result.stderr


def test_a_locator_is_escaped_and_on_one_line(write_deck, run):
    path = write_deck(SIMPLE_DECK.replace("    sources: [label]\n", '    sources: ["label <b>§1</b>"]\n', 1))
    assert "&lt;b&gt;§1&lt;/b&gt;" in _sources_field(path, "baclofen-moa")
    path = write_deck(SIMPLE_DECK.replace("    sources: [label]\n", '    sources: ["label a\\nb"]\n', 1))
    result = run("check", path)
    assert result.exit_code == 1
    assert "the locator after source `label` must be on one line" in result.stderr
