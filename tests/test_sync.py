"""`factdeck sync` into real collections: the three-way merge as Anki stores it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from factdeck import notetypes
from factdeck.build import build

T0 = 1_790_000_000

V1 = """\
deck:
  id: sync-demo
  name: "Sync demo"
tags: [demo]
notes:
  - id: a
    front: Note A asks
    back: A's first answer
    extra: A's first extra
  - id: b
    front: Note B asks
    back: B's first answer
  - id: c
    front: Note C asks
    back: C's answer
    extra: C's first extra
  - id: d
    front: Note D asks
    back: D's answer
  - id: cl
    text: "A {{c1::cloze}} note with {{c2::two}} gaps"
"""

V2 = (
    V1.replace("A's first answer", "A's second answer")
    .replace("B's first answer", "B's second answer")
    .replace("C's first extra", "C's second extra")
    .replace(
        """  - id: d
    front: Note D asks
    back: D's answer
""",
        """  - id: e
    front: Note E asks
    back: E's answer
    tags: [new-in-v2]
""",
    )
)


def _grow_basic(monkeypatch):
    """The maintainer's v2 adds a field to the basic note type (filled with the note's front)."""
    grown = dataclasses.replace(
        notetypes.BASIC,
        fields=(
            *notetypes.BASIC.fields[:3],
            notetypes.Field("Mnemonic", "front"),
            *notetypes.BASIC.fields[3:],
        ),
    )
    monkeypatch.setitem(notetypes.BY_KEY, "basic", grown)


def _restyle_cloze(monkeypatch):
    restyled = dataclasses.replace(notetypes.CLOZE, css=notetypes.CLOZE.css + "\n.cloze { color: teal; }\n")
    monkeypatch.setitem(notetypes.BY_KEY, "cloze", restyled)


@pytest.fixture
def learner(tmp_path, write_deck):
    """A collection that imported v1, reviewed every card and made its own edits; closed."""
    from conftest import AnkiCollection

    deck = write_deck(V1)
    assert not build([str(deck)], output=tmp_path / "v1.apkg", now=T0).errors
    folder = tmp_path / "profile"
    folder.mkdir()
    col = AnkiCollection(folder / "collection.anki2")
    col.import_package(tmp_path / "v1.apkg")
    reviews = col.review_all()
    notes = col.notes()
    notes["a"]["Extra"] = "my own mnemonic for A"
    notes["b"]["Back"] = "B's answer, corrected by me"
    notes["c"].tags.append("my-tag")
    for key in ("a", "b", "c"):
        col.col.update_note(notes[key])
    col.close()
    return deck, folder / "collection.anki2", reviews


def _open(path):
    from conftest import AnkiCollection

    return AnkiCollection(path)


def _sync(run, *args):
    return run("sync", *[str(a) for a in args])


def _state(path):
    """Everything sync must leave alone or change: notes, cards, reviews, note types."""
    col = _open(path)
    try:
        db = col.col.db
        return {
            "notes": db.all("SELECT id, guid, mid, mod, usn, tags, flds FROM notes ORDER BY id"),
            "cards": db.all(
                "SELECT id, nid, did, ord, mod, type, queue, due, ivl, reps FROM cards ORDER BY id"
            ),
            "revlog": db.all("SELECT * FROM revlog ORDER BY id"),
            "notetypes": sorted(
                (m["id"], m["mod"], json.dumps(m, sort_keys=True)) for m in col.col.models.all()
            ),
            "config": col.col.get_config("factdeck-sync", None),
        }
    finally:
        col.close()


def _check_v2_outcome(path, reviews):
    col = _open(path)
    try:
        notes = col.notes()
        assert notes["a"]["Back"] == "A's second answer"
        assert notes["a"]["Extra"] == "my own mnemonic for A"
        assert notes["b"]["Back"] == "B's answer, corrected by me"
        assert "factdeck::conflict" in notes["b"].tags
        assert notes["c"]["Extra"] == "C's second extra"
        assert "my-tag" in notes["c"].tags and "demo" in notes["c"].tags
        assert "factdeck::removed" in notes["d"].tags
        assert notes["e"]["Back"] == "E's answer" and sorted(notes["e"].tags) == ["demo", "new-in-v2"]
        e_cards = [c for c in col.cards() if c.nid == notes["e"].id]
        assert len(e_cards) == 1 and col.col.decks.name(e_cards[0].did) == "Sync demo"
        for key in ("a", "b", "c", "d", "e"):
            assert notes[key]["Mnemonic"] == ("" if key == "d" else notes[key]["Front"])
        names = sorted(m.name for m in col.col.models.all_names_and_ids() if m.name.startswith("factdeck"))
        assert names == ["factdeck Basic", "factdeck Cloze"]  # no "NAME+"
        basic = col.col.models.by_name("factdeck Basic")
        assert [f["name"] for f in basic["flds"]] == ["Front", "Back", "Extra", "Mnemonic", "Sources", "ID"]
        assert "color: teal" in col.col.models.by_name("factdeck Cloze")["css"]
        assert "color: teal" not in basic["css"]
        assert col.col.db.scalar("SELECT count() FROM revlog") == reviews
        old_cards = [c for c in col.cards() if c.nid != notes["e"].id]
        assert len(old_cards) == reviews and all(c.reps == 1 and c.type != 0 for c in old_cards)
    finally:
        col.close()


def test_sync_from_deck_files_merges_field_by_field_and_keeps_reviews(learner, run, monkeypatch):
    deck, path, reviews = learner
    deck.write_text(V2, encoding="utf-8")
    _grow_basic(monkeypatch)
    _restyle_cloze(monkeypatch)
    result = _sync(run, deck, "--collection", path, "--yes", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["counts"] == {
        "added": 1,
        "updated_fields": 2 + 3,  # A's Back, C's Extra, and the new field of A, B and C
        "kept_user_edits": 1,
        "conflicts": 1,
        "removed": 1,
        "notetypes_changed": 2,
    }
    assert [(c["id"], c["field"], c["yours"], c["new"]) for c in data["conflicts"]] == [
        ("b", "Back", "B's answer, corrected by me", "B's second answer")
    ]
    assert data["full_sync_required"] is True
    assert Path(data["backup"]).is_file() and Path(data["backup"]).parent == path.parent / "backups"
    _check_v2_outcome(path, reviews)

    before = _state(path)
    again = _sync(run, deck, "--collection", path, "--yes")
    assert again.exit_code == 0, again.output
    assert "nothing to change" in again.stdout
    assert _state(path) == before


def test_dry_run_prints_the_full_report_and_writes_nothing(learner, run, monkeypatch):
    deck, path, _ = learner
    deck.write_text(V2, encoding="utf-8")
    _grow_basic(monkeypatch)
    before = _state(path)
    result = _sync(run, deck, "--collection", path, "--dry-run")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "dry run: would sync" in out and "dry run: nothing was written" in out
    assert "  added          1 note: e" in out
    assert "  updated        5 fields: a (Back, Mnemonic), b (Mnemonic), c (Extra, Mnemonic)" in out
    assert "  kept           1 of your edits: a (Extra)" in out
    assert "  removed        1 (tagged factdeck::removed): d" in out
    assert "'factdeck Basic' gained field 'Mnemonic'" in out
    assert "b (note 1790000000001), Back: kept yours, tagged" in out
    assert "one-way full upload" in out
    assert _state(path) == before
    assert not (path.parent / "backups").exists()
