"""`factdeck stats`: notes and cards by type, notes by tag, notes without sources, per deck."""

from __future__ import annotations

import json

DECK = """\
deck: {id: demo, name: "Demo::Stats"}
tags: [all]
sources:
  s: {title: A book}
notes:
  - {id: a, front: Q, back: A, tags: [x, w], sources: [s]}
  - {id: b, type: basic-reversed, front: Q, back: A, tags: [x, y]}
  - {id: c, text: "{{c1::a}} {{c2::b}}", tags: [y, x, z]}
  - {id: d, text: "{{c1::a}} {{c1::b}}"}
"""


def test_stats_prints_aligned_tables_per_deck(write_deck, run):
    path = write_deck(DECK)
    result = run("stats", path)
    assert result.exit_code == 0, result.output
    assert (
        result.stdout
        == f"""\
demo: Demo::Stats ({path})
  type            notes  cards
  basic               1      1
  basic-reversed      1      2
  cloze               2      3
  total               4      6

  tag  notes
  all      4
  x        3
  y        2
  w        1
  z        1

  notes without sources: 3
    b, c, d
"""
    )


def test_stats_json_has_the_same_numbers(write_deck, run):
    path = write_deck(DECK)
    result = run("stats", path, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["total"] == {"decks": 1, "notes": 4, "cards": 6}
    [deck] = data["decks"]
    assert deck == {
        "id": "demo",
        "name": "Demo::Stats",
        "path": str(path),
        "notes": 4,
        "cards": 6,
        "types": {
            "basic": {"notes": 1, "cards": 1},
            "basic-reversed": {"notes": 1, "cards": 2},
            "cloze": {"notes": 2, "cards": 3},
        },
        "tags": [
            {"tag": "all", "notes": 4},
            {"tag": "x", "notes": 3},
            {"tag": "y", "notes": 2},
            {"tag": "w", "notes": 1},
            {"tag": "z", "notes": 1},
        ],
        "without_sources": ["b", "c", "d"],
    }


def test_stats_of_several_decks_ends_with_a_total(write_deck, run, tmp_path):
    write_deck(DECK, "decks/a.yaml")
    write_deck(DECK.replace("id: demo", "id: other"), "decks/b.yaml")
    result = run("stats", tmp_path / "decks")
    assert result.exit_code == 0, result.output
    assert result.stdout.index("demo: ") < result.stdout.index("other: ")
    assert result.stdout.endswith("\ntotal: 2 decks, 8 notes, 12 cards\n")


def test_stats_says_when_there_are_no_tags_and_every_note_has_sources(write_deck, run):
    path = write_deck("""\
        deck: {id: demo, name: Demo}
        sources: {s: {title: T}}
        notes:
          - {id: a, front: Q, back: A, sources: [s]}
        """)
    result = run("stats", path)
    assert "  no tags\n" in result.stdout
    assert result.stdout.endswith("  notes without sources: none\n")


def test_stats_wraps_a_long_list_of_notes_without_sources(write_deck, run):
    notes = "".join(f"  - {{id: note-number-{i}, front: Q, back: A}}\n" for i in range(40))
    path = write_deck("deck: {id: demo, name: Demo}\nnotes:\n" + notes)
    result = run("stats", path)
    listed = result.stdout.split("notes without sources: 40\n")[1].splitlines()
    assert len(listed) > 1 and all(len(line) <= 100 and line.startswith("    ") for line in listed)
    assert ", ".join(line.strip() for line in listed).replace(",,", ",") == ", ".join(
        f"note-number-{i}" for i in range(40)
    )


def test_stats_reports_errors_and_exits_1(write_deck, run):
    path = write_deck("deck: {id: demo, name: Demo}\nnotes:\n  - {id: a, front: Q}\n")
    result = run("stats", path)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert f"{path}:3:5: error: note `a` (basic) is missing required key `back`" in result.stderr
    assert result.stderr.endswith("1 error\n")


INVISIBLE = "\u202e\u2066\u2067\u2068\u2069\u200b\u200f\ufeff"


def test_invisible_and_bidirectional_characters_from_the_deck_are_escaped_in_stats(write_deck, run):
    deck = write_deck(
        'deck: {id: d, name: "D\\u202eevil\\u2066"}\n'
        "notes:\n"
        '  - {id: n1, front: q, back: a, tags: ["t\\u202ex", "y\\u2069\\u200b"]}\n'
    )
    text = run("stats", deck).output
    assert not set(text) & set(INVISIBLE), text
    assert "d: D\\u202eevil\\u2066 (" in text and "t\\u202ex" in text and "y\\u2069\\u200b" in text
    shown = run("stats", "--format", "json", deck).output
    assert not set(shown) & set(INVISIBLE), shown
    data = json.loads(shown)
    assert data["decks"][0]["name"] == "D\u202eevil\u2066"  # the same JSON, escaped


def test_invisible_characters_in_a_build_s_output_lines_are_escaped(write_deck, run, tmp_path):
    deck = write_deck("deck: {id: d, name: D}\nnotes:\n  - {id: n1, front: q, back: a}\n")
    result = run("build", deck, "-o", tmp_path / "x\u202eevil\u2066.apkg")
    assert result.exit_code == 0, result.output
    assert not set(result.output) & set(INVISIBLE), result.output
    assert "x\\u202eevil\\u2066.apkg" in result.output
