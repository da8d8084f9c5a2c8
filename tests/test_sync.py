"""`factdeck sync` into real collections: the three-way merge as Anki stores it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from factdeck.assemble import note_guid
from factdeck.build import build

T0 = 1_790_000_000

V1 = """\
deck:
  id: sync-demo
  name: "Sync demo"
tags: [demo]
notetypes:
  profile:
    name: "Drug profile"
    fields: [Drug, Class, ID]
    id-field: ID
    templates:
      - name: Class
        front: "{{Drug}}: which class?"
        back: "{{FrontSide}}<hr id=answer>{{Class}}"
    css: ".card { font-family: sans-serif; }"
  word:
    name: "Word"
    fields: [Word, Meaning, ID]
    id-field: ID
    templates:
      - {name: Forward, front: "{{Word}}", back: "{{FrontSide}}<hr id=answer>{{Meaning}}"}
    css: ".card { color: black; }"
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
  - id: p1
    type: profile
    fields: {Drug: Baclofen, Class: GABA-B agonist}
  - id: p2
    type: profile
    fields: {Drug: Tizanidine, Class: alpha-2 agonist}
  - id: w1
    type: word
    fields: {Word: spasticity, Meaning: velocity-dependent tone}
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
    subdeck: Newcomers
""",
    )
    .replace("fields: [Drug, Class, ID]", "fields: [Drug, Class, Mechanism, ID]")
    .replace("Class: GABA-B agonist}", "Class: GABA-B agonist, Mechanism: Hyperpolarises neurons}")
    .replace(".card { color: black; }", ".card { color: teal; }")
)


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
        assert set(notes) == {"a", "b", "c", "d", "e", "cl", "p1", "p2", "w1"}
        assert notes["a"]["Back"] == "A's second answer"
        assert notes["a"]["Extra"] == "my own mnemonic for A"
        assert notes["b"]["Back"] == "B's answer, corrected by me"
        assert "factdeck::conflict" in notes["b"].tags
        assert notes["c"]["Extra"] == "C's second extra"
        assert "my-tag" in notes["c"].tags and "demo" in notes["c"].tags
        assert "factdeck::removed" in notes["d"].tags
        assert notes["e"]["Back"] == "E's answer" and sorted(notes["e"].tags) == ["demo", "new-in-v2"]
        e_cards = [c for c in col.cards() if c.nid == notes["e"].id]
        assert len(e_cards) == 1 and col.col.decks.name(e_cards[0].did) == "Sync demo::Newcomers"
        assert "Hyperpolarises neurons" in notes["p1"]["Mechanism"]
        assert notes["p2"]["Mechanism"] == ""
        assert notes["p1"]["Class"] == "GABA-B agonist" and notes["p1"]["ID"] == "p1"
        profile = col.col.models.by_name("Drug profile")
        assert [f["name"] for f in profile["flds"]] == ["Drug", "Class", "Mechanism", "ID"]
        assert {notes[k].mid for k in ("p1", "p2")} == {profile["id"]}
        names = sorted(m.name for m in col.col.models.all_names_and_ids())
        assert [n for n in names if n.endswith("+") or "-" in n.split()[-1]] == []  # no "NAME+"
        assert names.count("Drug profile") == 1 and names.count("Word") == 1
        word = col.col.models.by_name("Word")
        assert "color: teal" in word["css"] and [f["name"] for f in word["flds"]] == ["Word", "Meaning", "ID"]
        assert notes["w1"]["Meaning"] == "velocity-dependent tone"
        assert col.col.db.scalar("SELECT count() FROM revlog") == reviews
        old_cards = [c for c in col.cards() if c.nid != notes["e"].id]
        assert len(old_cards) == reviews and all(c.reps == 1 and c.type != 0 for c in old_cards)
    finally:
        col.close()


def test_sync_from_deck_files_merges_field_by_field_and_keeps_reviews(learner, run):
    deck, path, reviews = learner
    deck.write_text(V2, encoding="utf-8")
    untouched = {row[1]: row for row in _state(path)["notes"]}  # w1's type is only restyled
    result = _sync(run, deck, "--collection", path, "--yes", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["counts"] == {
        "added": 1,
        "updated_fields": 3,  # A's Back, C's Extra, p1's new Mechanism (p2's stays empty)
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
    after = {row[1]: row for row in _state(path)["notes"]}
    for note_id in ("w1", "cl"):  # w1's type was only restyled: not even its time moved
        guid = note_guid("sync-demo", note_id)
        assert after[guid] == untouched[guid]

    before = _state(path)
    again = _sync(run, deck, "--collection", path, "--yes")
    assert again.exit_code == 0, again.output
    assert "nothing to change" in again.stdout
    assert _state(path) == before


def test_dry_run_prints_the_full_report_and_writes_nothing(learner, run):
    deck, path, _ = learner
    deck.write_text(V2, encoding="utf-8")
    before = _state(path)
    result = _sync(run, deck, "--collection", path, "--dry-run")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "dry run: would sync" in out and "dry run: nothing was written" in out
    assert "  added          1 note: e" in out
    assert "  updated        3 fields: a (Back), c (Extra), p1 (Mechanism)" in out
    assert "  kept           1 of your edits: a (Extra)" in out
    assert "  removed        1 (tagged factdeck::removed): d" in out
    assert "'Drug profile' gained field 'Mechanism'" in out
    assert "'Word' restyled" in out
    assert "b (note 1790000000001), Back: kept yours, tagged" in out
    assert "one-way full upload" in out
    assert _state(path) == before
    assert not (path.parent / "backups").exists()


def test_sync_from_a_package_gives_the_same_result(learner, run, tmp_path):
    deck, path, reviews = learner
    deck.write_text(V2, encoding="utf-8")
    assert not build([str(deck)], output=tmp_path / "v2.apkg", now=T0 + 100).errors
    result = _sync(run, tmp_path / "v2.apkg", "--collection", path, "--yes", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["counts"] == {
        "added": 1,
        "updated_fields": 3,
        "kept_user_edits": 1,
        "conflicts": 1,
        "removed": 1,
        "notetypes_changed": 2,
    }
    assert data["source"] == str(tmp_path / "v2.apkg")
    _check_v2_outcome(path, reviews)
    before = _state(path)
    again = _sync(run, tmp_path / "v2.apkg", "--collection", path, "--yes")
    assert again.exit_code == 0, again.output
    assert "nothing to change" in again.stdout and "backup: none (nothing to change)" in again.stdout
    assert _state(path) == before


def test_a_collection_anki_holds_open_is_refused_and_left_alone(learner, run, tmp_path):
    deck, path, _ = learner
    deck.write_text(V2, encoding="utf-8")
    before = _state(path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from anki.collection import Collection\n"
            "col = Collection(sys.argv[1])\n"
            "print('open', flush=True)\n"
            "sys.stdin.read()\n"
            "col.close()\n",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        result = _sync(run, deck, "--collection", path, "--yes")
    finally:
        holder.communicate("", timeout=60)
    assert result.exit_code == 1
    assert "Anki has this collection open" in result.stderr and "Nothing was changed" in result.stderr
    assert result.stdout == ""
    assert _state(path) == before
    assert not (path.parent / "backups").exists()


def test_a_second_sync_lists_an_open_conflict_until_its_tag_is_removed(learner, run):
    deck, path, _ = learner
    deck.write_text(V2, encoding="utf-8")
    assert _sync(run, deck, "--collection", path, "--yes").exit_code == 0
    again = _sync(run, deck, "--collection", path)
    assert "nothing to change" in again.stdout
    assert "b (note 1790000000001), Back: kept yours, tagged" in again.stdout  # still open
    col = _open(path)
    note = col.notes()["b"]
    note.tags.remove("factdeck::conflict")  # the learner has looked at it and keeps their text
    col.col.update_note(note)
    col.close()
    before = _state(path)
    settled = _sync(run, deck, "--collection", path, "--format", "json")
    data = json.loads(settled.stdout)
    assert data["counts"]["conflicts"] == 0 and data["counts"]["kept_user_edits"] == 2
    assert data["changed"] is False and _state(path) == before


@pytest.mark.parametrize(
    ("flag", "back", "tagged"),
    [("--ours", "B's second answer", False), ("--theirs", "B's answer, corrected by me", False)],
)
def test_ours_and_theirs_settle_every_conflict(learner, run, flag, back, tagged):
    deck, path, _ = learner
    deck.write_text(V2, encoding="utf-8")
    result = _sync(run, deck, "--collection", path, "--yes", flag, "--format", "json")
    assert result.exit_code == 0, result.output
    conflicts = json.loads(result.stdout)["conflicts"]
    assert [(c["id"], c["resolution"]) for c in conflicts] == [
        ("b", "took the new text" if flag == "--ours" else "kept yours")
    ]
    col = _open(path)
    note = col.notes()["b"]
    col.close()
    assert note["Back"] == back and ("factdeck::conflict" in note.tags) == tagged
    again = json.loads(_sync(run, deck, "--collection", path, "--format", "json").stdout)
    assert again["counts"]["conflicts"] == 0 and again["changed"] is False


def test_removed_notes_can_be_suspended(learner, run):
    deck, path, _ = learner
    deck.write_text(V2, encoding="utf-8")
    assert _sync(run, deck, "--collection", path, "--yes", "--removed", "suspend").exit_code == 0
    col = _open(path)
    d = col.notes()["d"]
    queues = [c.queue for c in col.cards() if c.nid == d.id]
    reps = [c.reps for c in col.cards() if c.nid == d.id]
    col.close()
    assert "factdeck::removed" in d.tags and queues == [-1] and reps == [1]
    before = _state(path)
    again = _sync(run, deck, "--collection", path, "--removed", "suspend")
    assert "nothing to change" in again.stdout and _state(path) == before


def test_removed_notes_are_deleted_only_after_confirmation(learner, run):
    deck, path, _ = learner
    deck.write_text(
        V2.replace("fields: [Drug, Class, Mechanism, ID]", "fields: [Drug, Class, ID]").replace(
            ", Mechanism: Hyperpolarises neurons", ""
        ),
        encoding="utf-8",
    )
    before = _state(path)
    refused = _sync(run, deck, "--collection", path, "--removed", "delete")
    assert refused.exit_code == 1
    assert "delete 1 note the deck removed" in refused.stderr and "--yes" in refused.stderr
    assert _state(path) == before
    assert _sync(run, deck, "--collection", path, "--removed", "delete", "--yes").exit_code == 0
    col = _open(path)
    notes = col.notes()
    col.close()
    assert "d" not in notes and "e" in notes


def test_a_schema_change_needs_confirmation_as_in_anki(learner, run):
    deck, path, _ = learner
    deck.write_text(V2, encoding="utf-8")
    before = _state(path)
    refused = _sync(run, deck, "--collection", path)
    assert refused.exit_code == 1 and "one-way full upload" in refused.stderr
    assert _state(path) == before


def test_the_learners_own_notes_of_factdeck_types_are_never_flagged_removed(learner, run):
    deck, path, _ = learner
    col = _open(path)
    mine = col.col.new_note(col.col.models.by_name("factdeck Basic"))
    mine["Front"], mine["Back"], mine["ID"] = "My own card", "My answer", "d"  # even with a factdeck id
    col.col.add_note(mine, col.col.decks.id_for_name("Sync demo"))
    col.close()
    deck.write_text(V2, encoding="utf-8")
    data = json.loads(_sync(run, deck, "--collection", path, "--yes", "--format", "json").stdout)
    assert [r["id"] for r in data["removed"]] == ["d"]
    col = _open(path)
    tags = col.col.get_note(mine.id).tags
    col.close()
    assert "factdeck::removed" not in tags


# --- hostile inputs --------------------------------------------------------------------------


def _not_collections(folder: Path) -> dict[str, Path]:
    import sqlite3

    folder.mkdir()
    cases = {}
    cases["random bytes"] = folder / "random.anki2"
    cases["random bytes"].write_bytes(bytes(range(256)) * 64)
    cases["text"] = folder / "notes.txt"
    cases["text"].write_text("collection.anki2 is in the profile folder\n")
    cases["other database"] = folder / "other.anki2"
    db = sqlite3.connect(cases["other database"])
    db.execute("CREATE TABLE notes (id INTEGER)")
    db.commit()
    db.close()
    cases["empty file"] = folder / "empty.anki2"
    cases["empty file"].write_bytes(b"")
    return cases


def test_a_file_that_is_not_a_collection_is_refused_and_left_as_it_was(write_deck, run, tmp_path):
    deck = write_deck(V1)
    for what, path in _not_collections(tmp_path / "junk").items():
        before = path.read_bytes()
        result = _sync(run, deck, "--collection", path, "--yes")
        assert result.exit_code == 1, what
        assert "not an Anki collection" in result.stderr, (what, result.stderr)
        assert path.read_bytes() == before, what
    missing = tmp_path / "nowhere" / "collection.anki2"
    result = _sync(run, deck, "--collection", missing)
    assert result.exit_code == 1 and "no such file" in result.stderr and not missing.parent.exists()
    result = _sync(run, deck, "--collection", tmp_path)
    assert result.exit_code == 1 and "folder" in result.stderr


def _rewrite_package(apkg: Path, change) -> None:
    """Run ``change(db)`` on the package's collection and zip it back."""
    import sqlite3
    import zipfile

    with zipfile.ZipFile(apkg) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    db_path = apkg.with_suffix(".anki2")
    db_path.write_bytes(members["collection.anki2"])
    db = sqlite3.connect(db_path)
    change(db)
    db.commit()
    db.close()
    members["collection.anki2"] = db_path.read_bytes()
    with zipfile.ZipFile(apkg, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


DAMAGED_HISTORIES = {
    "bad hash": 'UPDATE factdeck_history SET history = \'{"fields": {"Back": ["zz"]}}\'',
    "not json": "UPDATE factdeck_history SET history = 'fields: Back'",
    "deep json": "UPDATE factdeck_history SET history = '" + "[" * 100_000 + "'",
    "wrong shape": "UPDATE factdeck_history SET history = '{\"fields\": [1, 2]}'",
    "not text": "UPDATE factdeck_history SET history = x'00ff'",
    "table missing": "DROP TABLE factdeck_history",
    "newer format": "UPDATE factdeck_meta SET value = '99' WHERE key = 'format'",
    "bad decks": "UPDATE factdeck_meta SET value = '[1' WHERE key = 'decks'",
}


@pytest.mark.parametrize("damage", sorted(DAMAGED_HISTORIES))
def test_a_package_with_a_damaged_history_is_refused(learner, run, tmp_path, damage):
    deck, path, _ = learner
    deck.write_text(V2, encoding="utf-8")
    apkg = tmp_path / "v2.apkg"
    assert not build([str(deck)], output=apkg, now=T0 + 100).errors
    _rewrite_package(apkg, lambda db: db.execute(DAMAGED_HISTORIES[damage]))
    before = _state(path)
    result = _sync(run, apkg, "--collection", path, "--yes")
    assert result.exit_code == 1, result.output
    expected = "newer factdeck" if damage == "newer format" else "factdeck history is damaged"
    assert expected in result.stderr and str(apkg) in result.stderr
    assert _state(path) == before


def test_a_package_factdeck_did_not_build_is_refused(run, tmp_path, anki):
    col = anki()
    note = col.col.new_note(col.col.models.by_name("Basic"))
    note["Front"], note["Back"] = "q", "a"
    col.col.add_note(note, 1)
    from anki.collection import ExportAnkiPackageOptions

    col.col.export_anki_package(
        out_path=str(tmp_path / "other.apkg"),
        options=ExportAnkiPackageOptions(with_scheduling=False, with_media=False, legacy=True),
        limit=None,
    )
    target = tmp_path / "target" / "collection.anki2"
    target.parent.mkdir()
    from conftest import AnkiCollection

    AnkiCollection(target).close()
    result = _sync(run, tmp_path / "other.apkg", "--collection", target)
    assert result.exit_code == 1 and "not a package factdeck built" in result.stderr


def test_a_lock_with_odd_history_is_an_error_at_its_line(write_deck, run, tmp_path):
    deck = write_deck(V1)
    assert not build([str(deck)], output=tmp_path / "v1.apkg", now=T0).errors
    lock = deck.with_suffix(".lock")
    good = lock.read_text().splitlines()
    first = next(i for i, line in enumerate(good) if line.startswith("note a "))
    for odd, why in [
        ("basic:zz", "malformed history"),
        ("basic:00000000", "history has 1 fields, note type `basic` has 5"),
        ("nosuch:00000000", "history names note type `nosuch`, which the lock does not declare"),
        ("basic:00000000/00000000/00000000/00000000/00000000 trailing", "malformed history"),
        ("?", "malformed history"),
    ]:
        lines = list(good)
        lines[first] = " ".join(lines[first].split(" ")[:5]) + " " + odd
        lock.write_text("\n".join(lines) + "\n")
        expected = f"{lock}:{first + 1}:1: error: lock file deck.lock has a damaged note history ({why})"
        built = run("build", deck, "-o", tmp_path / "x.apkg")
        assert built.exit_code == 1 and expected in built.stderr, (odd, built.stderr)
        synced = run("sync", deck, "--collection", tmp_path / "v1.apkg")
        assert synced.exit_code == 1 and expected in synced.stderr, (odd, synced.stderr)
    assert not (tmp_path / "x.apkg").exists()


def test_without_the_anki_library_sync_says_how_to_install_it(write_deck, run, tmp_path, monkeypatch):
    from factdeck.ankifiles import collection

    monkeypatch.setattr(collection, "anki_available", lambda: False)
    monkeypatch.setattr("factdeck.ankifiles.sync.anki_available", lambda: False)
    result = _sync(run, write_deck(V1), "--collection", tmp_path / "collection.anki2")
    assert result.exit_code == 1
    assert "pip install 'factdeck[anki]'" in result.stderr


def test_after_a_lock_from_before_histories_changed_notes_are_conflicts_and_nothing_is_lost(learner, run):
    deck, path, _ = learner
    lock = deck.with_suffix(".lock")
    lock.write_text(
        "".join(
            " ".join(line.split(" ")[:5]) + "\n" if line.startswith("note ") else line + "\n"
            for line in lock.read_text().splitlines()
        )
    )
    deck.write_text(V2, encoding="utf-8")
    data = json.loads(_sync(run, deck, "--collection", path, "--yes", "--format", "json").stdout)
    assert sorted((c["id"], c["field"]) for c in data["conflicts"]) == [
        ("a", "Back"),
        ("a", "Extra"),
        ("b", "Back"),
        ("c", "Extra"),
    ]
    assert data["updated"] == [{"id": "p1", "fields": ["Mechanism"]}]
    col = _open(path)
    notes = col.notes()
    col.close()
    assert notes["a"]["Extra"] == "my own mnemonic for A" and notes["a"]["Back"] == "A's first answer"
    assert notes["b"]["Back"] == "B's answer, corrected by me"
    assert all("factdeck::conflict" in notes[k].tags for k in "abc")


PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15"
    b"\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.mark.parametrize("source", ["decks", "package"])
def test_images_in_updated_and_added_notes_reach_the_collections_media(learner, run, tmp_path, source):
    deck, path, _ = learner
    (deck.parent / "pump.png").write_bytes(PNG)
    deck.write_text(
        V2.replace("C's second extra", "C's second extra ![a pump](pump.png)").replace(
            "back: E's answer", 'back: "E\'s answer ![a pump](pump.png)"'
        ),
        encoding="utf-8",
    )
    target = deck
    if source == "package":
        target = tmp_path / "v2.apkg"
        assert not build([str(deck)], output=target, now=T0 + 100).errors
    assert _sync(run, target, "--collection", path, "--yes").exit_code == 0
    col = _open(path)
    notes = col.notes()
    media = Path(col.col.media.dir())
    col.close()
    names = {p.name for p in media.iterdir()}
    used = [n for n in names if n in notes["c"]["Extra"]]
    assert len(used) == 1 and (media / used[0]).read_bytes() == PNG
    assert used[0] in notes["e"]["Back"]


def test_theirs_and_ours_together_are_a_usage_error(learner, run):
    deck, path, _ = learner
    result = _sync(run, deck, "--collection", path, "--theirs", "--ours")
    assert result.exit_code == 2 and "give one of them" in result.stderr


def test_text_from_the_collection_cannot_drive_the_terminal(learner, run):
    deck, path, _ = learner
    col = _open(path)
    note = col.notes()["b"]
    note["Back"] = "mine \x1b[2J\x9b2J and \u202e reversed\u2028line"
    col.col.update_note(note)
    stored = col.notes()["b"]["Back"]  # Anki drops some control characters itself
    col.close()
    deck.write_text(V2, encoding="utf-8")
    result = _sync(run, deck, "--collection", path, "--dry-run")
    assert result.exit_code == 0, result.output
    for raw in ("\x1b", "\x9b", "\u202e", "\u2028"):
        assert raw not in result.stdout
    assert "\\u202e reversed line" in result.stdout  # shown escaped; the line separator is a space
    data = _sync(run, deck, "--collection", path, "--dry-run", "--format", "json").stdout
    assert "\u202e" not in data and json.loads(data)["conflicts"][0]["yours"] == stored


def test_a_damaged_sync_record_in_the_collection_counts_as_none(learner, run):
    deck, path, _ = learner
    col = _open(path)
    col.col.set_config(
        "factdeck-sync", {"version": 1, "seen": {"x": [1, 2], "y": {"Back": 3}, "z": "not a mapping"}}
    )
    col.close()
    deck.write_text(V2, encoding="utf-8")
    result = _sync(run, deck, "--collection", path, "--yes", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["counts"]["conflicts"] == 1
    col = _open(path)
    record = col.col.get_config("factdeck-sync", None)
    col.close()
    # the damaged entries are gone; what is remembered: the fields shipped in two versions
    assert set(record["seen"]) == {note_guid("sync-demo", n) for n in "abc"}


def test_a_package_from_before_histories_makes_every_difference_a_conflict(learner, run, tmp_path):
    deck, path, _ = learner
    deck.write_text(V2, encoding="utf-8")
    apkg = tmp_path / "old.apkg"
    assert not build([str(deck)], output=apkg, now=T0 + 100).errors
    _rewrite_package(
        apkg, lambda db: db.executescript("DROP TABLE factdeck_history; DROP TABLE factdeck_meta;")
    )
    result = _sync(run, apkg, "--collection", path, "--dry-run", "--format", "json")
    data = json.loads(result.stdout)
    assert data["source_has_history"] is False and data["removed"] == []
    assert sorted((c["id"], c["field"]) for c in data["conflicts"]) == [
        ("a", "Back"),
        ("a", "Extra"),
        ("b", "Back"),
        ("c", "Extra"),
    ]
    text = _sync(run, apkg, "--collection", path, "--dry-run").stdout
    assert "built before factdeck kept histories" in text


def test_a_collection_package_or_a_package_with_decks_is_a_usage_error(learner, run, tmp_path):
    deck, path, _ = learner
    backup = _sync(run, tmp_path / "backup.colpkg", "--collection", path)
    assert backup.exit_code == 2 and "not a release" in backup.stderr
    mixed = _sync(run, tmp_path / "v1.apkg", deck, "--collection", path)
    assert mixed.exit_code == 2 and "one package alone" in mixed.stderr


def test_a_first_sync_into_an_empty_collection_adds_everything_once(write_deck, run, tmp_path):
    from conftest import AnkiCollection

    deck = write_deck(V1)
    path = tmp_path / "fresh" / "collection.anki2"
    path.parent.mkdir()
    AnkiCollection(path).close()
    first = json.loads(_sync(run, deck, "--collection", path, "--format", "json").stdout)
    assert first["counts"]["added"] == 8 and first["counts"]["conflicts"] == 0
    assert sorted(first["added_notetypes"]) == ["Drug profile", "Word", "factdeck Basic", "factdeck Cloze"]
    col = _open(path)
    notes, cards = col.notes(), col.cards()
    col.close()
    assert set(notes) == {"a", "b", "c", "d", "cl", "p1", "p2", "w1"}
    assert len(cards) == 9  # 7 one-card notes and a cloze with two gaps
    before = _state(path)
    again = _sync(run, deck, "--collection", path)
    assert "nothing to change" in again.stdout and _state(path) == before


def test_a_removed_note_with_a_guid_of_its_own_is_recognised_once_a_sync_has_seen_it(learner, run):
    deck, path, _ = learner
    own = V1 + '  - id: x\n    guid: "Q~from-another-tool"\n    front: Note X asks\n    back: X\'s answer\n'
    deck.write_text(own, encoding="utf-8")
    synced = _sync(run, deck, "--collection", path, "--yes", "--format", "json")
    assert synced.exit_code == 0, synced.output
    first = json.loads(synced.stdout)
    assert first["added"] == ["x"] and first["removed"] == []
    col = _open(path)
    record = col.col.get_config("factdeck-sync", None)
    col.close()
    assert record["explicit"] == {"sync-demo": ["Q~from-another-tool"]}
    deck.write_text(V1, encoding="utf-8")
    synced = _sync(run, deck, "--collection", path, "--format", "json")
    assert synced.exit_code == 0, synced.output
    second = json.loads(synced.stdout)
    assert [r["id"] for r in second["removed"]] == ["x"]
    col = _open(path)
    assert "factdeck::removed" in col.notes()["x"].tags
    col.close()


def test_anki_failing_part_way_is_an_error_naming_the_backup_and_a_rerun_finishes(learner, run, monkeypatch):
    from anki.collection import Collection as AnkiCollection
    from anki.errors import DBError

    deck, path, reviews = learner
    deck.write_text(V2, encoding="utf-8")

    def fail(self, notes, skip_undo_entry=False):
        raise DBError("disk I/O error", None, None, None)

    with monkeypatch.context() as patched:
        patched.setattr(AnkiCollection, "update_notes", fail)
        result = _sync(run, deck, "--collection", path, "--yes")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "Anki failed while writing (disk I/O error)" in result.stderr
    assert "restore the backup" in result.stderr and "backups/backup-" in result.stderr
    again = _sync(run, deck, "--collection", path, "--yes")
    assert again.exit_code == 0, again.output
    _check_v2_outcome(path, reviews)


def _backup_notes(backup: Path, tmp: Path) -> dict[str, str]:
    """The Back field of every note in a backup (.colpkg), by ID, read by Anki itself."""
    from anki._backend import RustBackend
    from anki.collection import Collection as AnkiCollection

    tmp.mkdir()
    backend = RustBackend()
    backend.import_collection_package(
        col_path=str(tmp / "collection.anki2"),
        backup_path=str(backup),
        media_folder=str(tmp / "collection.media"),
        media_db=str(tmp / "collection.media.db2"),
    )
    col = AnkiCollection(str(tmp / "collection.anki2"), backend=backend)
    try:
        notes = [dict(col.get_note(nid).items()) for nid in col.find_notes("")]
        return {note["ID"]: note.get("Back", "") for note in notes}
    finally:
        col.close()


def test_syncs_in_one_second_keep_every_backup_each_complete_before_the_collection_changes(
    learner, run, tmp_path, monkeypatch
):
    import time

    from factdeck.ankifiles import sync as target

    deck, path, _ = learner
    folder = path.parent / "backups"
    folder.mkdir()
    now = time.time()
    taken = {}  # the names Anki gives backups for the next minute, already there
    for second in range(-2, 60):
        name = time.strftime("backup-%Y-%m-%d-%H.%M.%S.colpkg", time.localtime(now + second))
        (folder / name).write_bytes(name.encode())
        taken[name] = name.encode()
    seen_before_writing = []
    apply = target.apply

    def checked_apply(col, plan):
        newest = max(folder.iterdir(), key=lambda p: p.stat().st_mtime_ns)
        seen_before_writing.append(_backup_notes(newest, tmp_path / f"read-{len(seen_before_writing)}"))
        apply(col, plan)

    monkeypatch.setattr(target, "apply", checked_apply)
    backups = []
    for version in (V2, V2.replace("A's second answer", "A's third answer")):
        deck.write_text(version, encoding="utf-8")
        synced = _sync(run, deck, "--collection", path, "--yes", "--format", "json")
        assert synced.exit_code == 0, synced.output
        backups.append(Path(json.loads(synced.stdout)["backup"]))
    assert {name: (folder / name).read_bytes() for name in taken} == taken  # none replaced
    assert len(set(backups)) == 2 and all(b.parent == folder and b.name not in taken for b in backups)
    assert all(re.fullmatch(r"backup-[\d.-]+-[23]\.colpkg", b.name) for b in backups), backups
    assert [notes["a"] for notes in seen_before_writing] == ["A's first answer", "A's second answer"]
    assert [_backup_notes(b, tmp_path / f"again-{i}")["a"] for i, b in enumerate(backups)] == [
        "A's first answer",
        "A's second answer",
    ]
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []  # no working folder left


OWN_GUID_NOTE = '  - id: x\n    guid: "Q~from-another-tool"\n    front: Note X asks\n    back: X\'s answer\n'


@pytest.mark.parametrize("source", ["decks", "package"])
def test_a_removed_note_with_a_guid_of_its_own_is_recognised_without_an_earlier_sync(
    write_deck, run, tmp_path, source
):
    """The learner imported v1 with Anki itself; v2 and v3 no longer have note x, whose GUID is
    its own: the lock remembers it, the package carries it, and sync flags x."""
    from conftest import AnkiCollection

    deck = write_deck(V1 + OWN_GUID_NOTE)
    assert not build([str(deck)], output=tmp_path / "v1.apkg", now=T0).errors
    folder = tmp_path / "profile"
    folder.mkdir()
    col = AnkiCollection(folder / "collection.anki2")
    col.import_package(tmp_path / "v1.apkg")
    copy = col.col.new_note(col.col.models.by_name("factdeck Basic"))
    for name, value in col.notes()["x"].items():
        copy[name] = value  # Anki's "Create Copy": same fields, ID included, a GUID of its own
    col.col.add_note(copy, col.col.decks.id("Sync demo"))
    col.close()
    deck.write_text(V1, encoding="utf-8")
    assert not build([str(deck)], output=tmp_path / "v2.apkg", now=T0 + 10).errors
    deck.write_text(V1.replace("D's answer", "D's new answer"), encoding="utf-8")
    assert not build([str(deck)], output=tmp_path / "v3.apkg", now=T0 + 20).errors
    assert "guid Q~from-another-tool x\n" in deck.with_suffix(".lock").read_text()
    path = folder / "collection.anki2"
    given = deck if source == "decks" else tmp_path / "v3.apkg"
    synced = _sync(run, given, "--collection", path, "--format", "json")
    assert synced.exit_code == 0, synced.output
    assert [r["id"] for r in json.loads(synced.stdout)["removed"]] == ["x"]
    col = _open(path)
    tagged = {col.col.get_note(nid).guid: col.col.get_note(nid).tags for nid in col.col.find_notes("ID:x")}
    col.close()
    assert len(tagged) == 2
    assert "factdeck::removed" in tagged["Q~from-another-tool"]
    assert [tags for guid, tags in tagged.items() if guid != "Q~from-another-tool"] == [[]]  # the copy


def test_a_note_whose_own_guid_changed_leaves_its_old_guid_flagged_removed(write_deck, run, tmp_path):
    from conftest import AnkiCollection

    deck = write_deck(V1 + OWN_GUID_NOTE)
    assert not build([str(deck)], output=tmp_path / "v1.apkg", now=T0).errors
    folder = tmp_path / "profile"
    folder.mkdir()
    col = AnkiCollection(folder / "collection.anki2")
    col.import_package(tmp_path / "v1.apkg")
    col.close()
    deck.write_text(V1 + OWN_GUID_NOTE.replace("Q~from-another-tool", "Q~renumbered"), encoding="utf-8")
    synced = _sync(run, deck, "--collection", folder / "collection.anki2", "--format", "json", "--yes")
    assert synced.exit_code == 0, synced.output
    report = json.loads(synced.stdout)
    assert report["added"] == ["x"] and [r["id"] for r in report["removed"]] == ["x"]
    lock = deck.with_suffix(".lock").read_text()
    assert "guid Q~from-another-tool x\n" in lock  # sync reads the lock; only a build writes it


def test_guid_lines_of_a_lock_are_checked_and_kept_in_order(write_deck, tmp_path):
    deck = write_deck(V1 + OWN_GUID_NOTE)
    assert not build([str(deck)], output=tmp_path / "v1.apkg", now=T0).errors
    lock = deck.with_suffix(".lock")
    text = lock.read_text()
    lock.write_text(text + "guid two words here\n", encoding="utf-8")
    result = build([str(deck)], output=tmp_path / "v1.apkg", now=T0)
    assert [(e.line, e.message) for e in result.errors] == [
        (len(text.splitlines()) + 1, f"lock file {lock.name} has a line factdeck does not understand")
    ]
    lock.write_text(text + "guid A~earlier old-note\n", encoding="utf-8")
    assert not build([str(deck)], output=tmp_path / "v1.apkg", now=T0).errors
    assert lock.read_text().endswith("guid A~earlier old-note\nguid Q~from-another-tool x\n")


def test_on_a_file_system_without_hard_links_the_backup_is_copied_never_over_another(
    learner, run, monkeypatch
):
    import errno
    import os

    deck, path, _ = learner
    deck.write_text(V2, encoding="utf-8")

    def no_links(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted", str(src))

    monkeypatch.setattr(os, "link", no_links)
    synced = _sync(run, deck, "--collection", path, "--yes", "--format", "json")
    assert synced.exit_code == 0, synced.output
    backup = Path(json.loads(synced.stdout)["backup"])
    assert _backup_notes(backup, path.parent / "read")["a"] == "A's first answer"


@pytest.mark.parametrize("source", ["decks", "package"])
def test_a_file_a_changed_template_names_reaches_the_collections_media(learner, run, tmp_path, source):
    deck, path, _ = learner
    (deck.parent / "logo.png").write_bytes(PNG)
    deck.write_text(
        V1.replace('front: "{{Word}}"', "front: '<img src=\"logo.png\">{{Word}}'"), encoding="utf-8"
    )
    target = deck
    if source == "package":
        target = tmp_path / "v2.apkg"
        assert not build([str(deck)], output=target, now=T0 + 100).errors
    assert _sync(run, target, "--collection", path, "--yes").exit_code == 0
    col = _open(path)
    model = col.col.models.by_name("Word")
    media = Path(col.col.media.dir())
    col.close()
    (name,) = re.findall(r'<img src="([^"]+)">', model["tmpls"][0]["qfmt"])
    assert name.startswith("_factdeck-") and (media / name).read_bytes() == PNG


def test_a_first_sync_carries_the_files_templates_name(write_deck, run, tmp_path):
    (tmp_path / "logo.png").write_bytes(PNG)
    deck = write_deck(V1.replace('front: "{{Word}}"', "front: '<img src=\"logo.png\">{{Word}}'"))
    (deck.parent / "logo.png").write_bytes(PNG)
    folder = tmp_path / "empty"
    folder.mkdir()
    _open(folder / "collection.anki2").close()
    assert _sync(run, deck, "--collection", folder / "collection.anki2", "--yes").exit_code == 0
    col = _open(folder / "collection.anki2")
    model = col.col.models.by_name("Word")
    media = Path(col.col.media.dir())
    col.close()
    (name,) = re.findall(r'<img src="([^"]+)">', model["tmpls"][0]["qfmt"])
    assert (media / name).read_bytes() == PNG
