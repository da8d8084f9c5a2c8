"""Whatever the input, a run ends in a clean error or in a package that Anki imports."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import AnkiCollection
from factdeck.build import build, check

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))

TOKENS = [
    *list("abc:-[]{}\"'!&*#|>%@`\n\t ,?~0x1."),
    "deck",
    "notes",
    "id",
    "front",
    "back",
    "text",
    "{{c1::",
    "}}",
    "  ",
    "\n  - ",
    "!!python/object",
    "é",
    "\x00",
    "&a ",
    "*a",
    "deck:\n  id: d\n  name: D\nnotes:\n  - id: n\n    ",
]
YAMLISH = st.lists(st.sampled_from(TOKENS), max_size=60).map("".join)

text_value = st.text(min_size=0, max_size=30)
filled = st.text(min_size=1, max_size=30).filter(str.strip)
valid_id = st.from_regex(r"[a-z0-9][a-z0-9-]{0,8}", fullmatch=True)
basic = st.fixed_dictionaries(
    {"id": valid_id, "front": filled, "back": filled},
    optional={"type": st.sampled_from(["basic", "basic-reversed"]), "extra": text_value},
)
cloze = st.fixed_dictionaries(
    {
        "id": valid_id,
        "text": st.builds(
            lambda a, n, b, c: f"{a}{{{{c{n}::{b}}}}}{c}", text_value, st.integers(1, 3), filled, text_value
        ),
    }
)
anything = st.fixed_dictionaries(
    {"id": st.one_of(valid_id, text_value)},
    optional={
        "type": st.sampled_from(["basic", "basic-reversed", "cloze", "other"]),
        "front": text_value,
        "back": text_value,
        "text": st.one_of(
            text_value,
            st.builds(lambda a, n, b: f"{a}{{{{c{n}::{b}}}}}", text_value, st.integers(0, 4), text_value),
        ),
        "extra": text_value,
        "tags": st.lists(st.from_regex(r"[a-z:]{1,6}", fullmatch=True), max_size=3),
        "sources": st.lists(st.sampled_from(["s1", "s2"]), max_size=2),
    },
)
deck_structure = st.fixed_dictionaries(
    {
        "deck": st.fixed_dictionaries(
            {
                "id": st.sampled_from(["d", "d", "x-1", "Bad"]),
                "name": st.sampled_from(["D", "A::B", "A::B", "A::::B"]),
            }
        ),
        "sources": st.just({"s1": {"title": "One", "url": "https://example.org/1"}}),
        "notes": st.one_of(
            st.lists(st.one_of(basic, cloze), max_size=6, unique_by=lambda n: n["id"]),
            st.lists(anything, max_size=6),
        ),
    }
)


def _outcome(text: str | bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        deck = Path(tmp) / "deck.yaml"
        deck.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
        checked = check([str(deck)])
        for d in checked.diagnostics:
            assert d.message and d.path == str(deck) and d.line >= 0 and d.col >= 0
        result = build([str(deck)], output=Path(tmp) / "out.apkg", now=1_700_000_000)
        assert bool(result.errors) == bool(checked.errors)
        if result.errors:
            assert not (Path(tmp) / "out.apkg").exists()
            return
        col = AnkiCollection(Path(tmp) / "c.anki2")
        try:
            log = col.import_package(Path(tmp) / "out.apkg")
            built = checked.decks[0]
            assert len(log.new) == len(built.notes)
            assert len(col.cards()) == built.card_count
            for card in col.cards():
                card.question(), card.answer()
        finally:
            col.close()


@SETTINGS
@given(YAMLISH)
def test_yamlish_text_gives_clean_error_or_importable_package(text):
    _outcome(text)


@SETTINGS
@given(deck_structure)
def test_generated_decks_give_clean_error_or_importable_package(structure):
    _outcome(yaml.safe_dump(structure, allow_unicode=True))
