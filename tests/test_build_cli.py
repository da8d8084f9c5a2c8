"""`factdeck build` and `factdeck check` from the command line, and the lock file they keep."""

from __future__ import annotations

import json
import os
import sqlite3
import zipfile

from conftest import SIMPLE_DECK
from factdeck.lock import lock_path


def _read_collection(apkg):
    with zipfile.ZipFile(apkg) as zf:
        data = zf.read("collection.anki2")
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in zf.infolist())
    db = sqlite3.connect(":memory:")
    db.deserialize(data)
    return db


def test_build_without_o_writes_one_package_per_deck_into_dist_of_the_cwd(
    write_deck, tmp_path, run, monkeypatch
):
    write_deck(SIMPLE_DECK, "decks/demo.yaml")
    write_deck(SIMPLE_DECK.replace("id: demo", "id: other"), "decks/sub/other.yml")
    monkeypatch.chdir(tmp_path)
    result = run("build")
    assert result.exit_code == 0, result.output
    assert "demo: 5 notes, 9 cards -> dist/demo.apkg" in result.stdout
    assert "other: 5 notes, 9 cards -> dist/other.apkg" in result.stdout
    assert (tmp_path / "dist" / "demo.apkg").is_file() and (tmp_path / "dist" / "other.apkg").is_file()
    assert (tmp_path / "decks" / "demo.lock").is_file() and (
        tmp_path / "decks" / "sub" / "other.lock"
    ).is_file()


def test_build_with_o_combines_decks_into_one_package(write_deck, tmp_path, run):
    a = write_deck(SIMPLE_DECK, "a.yaml")
    b = write_deck(SIMPLE_DECK.replace("id: demo", "id: other").replace("Demo::", "Other::"), "b.yaml")
    result = run("build", a, b, "-o", tmp_path / "all.apkg")
    assert result.exit_code == 0, result.output
    db = _read_collection(tmp_path / "all.apkg")
    assert db.execute("select count() from notes").fetchone()[0] == 10
    assert db.execute("select count() from cards").fetchone()[0] == 18
    decks = json.loads(db.execute("select decks from col").fetchone()[0])
    assert {"Demo::Pharmacology", "Other::Pharmacology"} <= {d["name"] for d in decks.values()}


def test_rebuild_without_changes_is_byte_identical_without_source_date_epoch(write_deck, tmp_path, run):
    deck = write_deck(SIMPLE_DECK)
    env = {"SOURCE_DATE_EPOCH": None}
    assert run("build", deck, "-o", tmp_path / "a.apkg", env=env).exit_code == 0
    lock_before = lock_path(deck).read_bytes()
    os.utime(deck, (1, 1))  # touching the file must not matter either
    assert run("build", deck, "-o", tmp_path / "b.apkg", env=env).exit_code == 0
    assert (tmp_path / "a.apkg").read_bytes() == (tmp_path / "b.apkg").read_bytes()
    assert lock_path(deck).read_bytes() == lock_before


def test_note_time_moves_only_for_the_edited_note(write_deck, tmp_path, run):
    deck = write_deck(SIMPLE_DECK)
    run("build", deck, "-o", tmp_path / "a.apkg", env={"SOURCE_DATE_EPOCH": "1700000000"})
    deck.write_text(SIMPLE_DECK.replace("Tizanidine\n", "Tizanidine (Zanaflex)\n"), encoding="utf-8")
    result = run("build", deck, "-o", tmp_path / "b.apkg", env={"SOURCE_DATE_EPOCH": "1700000500"})
    assert "1 changed: tizanidine-class" in result.output
    db = _read_collection(tmp_path / "b.apkg")
    times = dict(db.execute("select flds, mod from notes").fetchall())
    changed = [t for f, t in times.items() if f.startswith("Tizanidine (Zanaflex)")]
    assert changed == [1700000500]
    assert sorted(set(times.values())) == [1700000000, 1700000500]


def test_lock_is_sorted_text_one_line_per_note_and_note_type(write_deck, tmp_path, run):
    deck = write_deck(SIMPLE_DECK)
    run("build", deck, "-o", tmp_path / "a.apkg", env={"SOURCE_DATE_EPOCH": "1700000000"})
    lines = [line for line in lock_path(deck).read_text().splitlines() if not line.startswith("#")]
    assert [line.split()[1] for line in lines if line.startswith("note ")] == sorted(
        ["baclofen-moa", "baclofen-routes", "tizanidine-class", "dantrolene-site", "nested"]
    )
    assert [line.split()[1] for line in lines if line.startswith("notetype ")] == [
        "basic",
        "basic-reversed",
        "cloze",
    ]


def test_removed_notes_leave_the_lock_and_are_listed(write_deck, tmp_path, run):
    deck = write_deck(SIMPLE_DECK)
    run("build", deck, "-o", tmp_path / "a.apkg")
    trimmed = SIMPLE_DECK.split("  - id: dantrolene-site")[0]
    deck.write_text(trimmed, encoding="utf-8")
    result = run("build", deck, "-o", tmp_path / "b.apkg")
    assert result.exit_code == 0, result.output
    assert (
        "2 removed: dantrolene-site, nested (Anki keeps removed notes until the user deletes them)"
        in result.output
    )
    assert "dantrolene-site" not in lock_path(deck).read_text()


def test_locked_build_on_a_stale_lock_fails_and_writes_nothing(write_deck, tmp_path, run):
    deck = write_deck(SIMPLE_DECK)
    out = tmp_path / "a.apkg"
    run("build", deck, "-o", out)
    before = (out.read_bytes(), lock_path(deck).read_bytes())
    assert run("build", "--locked", deck, "-o", out).exit_code == 0
    deck.write_text(SIMPLE_DECK.replace("Tizanidine\n", "Tizanidine (Zanaflex)\n"), encoding="utf-8")
    result = run("build", "--locked", deck, "-o", out)
    assert result.exit_code == 1
    assert "1 changed: tizanidine-class" in result.stderr
    assert (out.read_bytes(), lock_path(deck).read_bytes()) == before


def test_check_writes_nothing_and_reports_counts(write_deck, tmp_path, run):
    deck = write_deck(SIMPLE_DECK)
    result = run("check", deck)
    assert result.exit_code == 0
    assert "ok: 1 deck, 5 notes, 9 cards" in result.stdout
    assert not lock_path(deck).exists() and not (tmp_path / "dist").exists()


def test_scalars_reach_the_card_exactly_as_written(write_deck, tmp_path, run):
    deck = write_deck("""\
        deck: {id: yaml11, name: Y}
        notes:
          - {id: a, front: no, back: on}
          - {id: b, front: 1.10, back: 0755}
          - {id: c, front: 2024-01-01, back: ~}
          - {id: d, front: 0x1F, back: .inf}
        """)
    assert run("build", deck, "-o", tmp_path / "y.apkg").exit_code == 0
    db = _read_collection(tmp_path / "y.apkg")
    fields = sorted(tuple(f.split("\x1f")[:2]) for (f,) in db.execute("select flds from notes"))
    assert fields == [("0x1F", ".inf"), ("1.10", "0755"), ("2024-01-01", "~"), ("no", "on")]


def test_unwritable_output_is_a_clean_error(write_deck, tmp_path, run):
    deck = write_deck(SIMPLE_DECK)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run("build", deck, "-o", blocker / "out.apkg")
    assert result.exit_code == 1
    assert "error: cannot write" in result.stderr and "Traceback" not in result.output


def test_usage_errors_exit_2(run, write_deck, tmp_path):
    assert run("build", "--bogus").exit_code == 2
    assert run("build", write_deck(SIMPLE_DECK), "-o", tmp_path / "x.zip").exit_code == 2
    assert run("build", write_deck(SIMPLE_DECK), env={"SOURCE_DATE_EPOCH": "yesterday"}).exit_code == 2


def test_guids_are_genankis_for_deck_and_note_id():
    import genanki

    from factdeck.assemble import note_guid

    for deck_id, note_id in [("demo", "baclofen-moa"), ("a", "b"), ("spasticity", "x" * 100)]:
        assert note_guid(deck_id, note_id) == genanki.guid_for("factdeck", deck_id, note_id)
    for n in range(3000):
        assert note_guid("demo", f"n{n}") == genanki.guid_for("factdeck", "demo", f"n{n}")


def test_base91_digits_are_genankis_at_every_digit_count():
    import genanki

    from factdeck.assemble import base91

    def genankis(value: int) -> str:  # genanki.guid_for's conversion, after its hash
        table, digits = genanki.util.BASE91_TABLE, []
        while value > 0:
            digits.append(table[value % len(table)])
            value //= len(table)
        return "".join(reversed(digits))

    edges = {0, 1, 90, 91, 92, 8280, 8281, 8282, 2**64 - 1}
    edges |= {91**k + d for k in range(1, 10) for d in (-1, 0, 1)}
    for value in sorted(edges):
        assert base91(value) == genankis(value), value


def test_combined_decks_sharing_a_note_type_give_it_the_newest_time(write_deck, tmp_path, run):
    a = write_deck(SIMPLE_DECK, "a.yaml")
    b = write_deck(SIMPLE_DECK.replace("id: demo", "id: other").replace("Demo::", "Other::"), "b.yaml")
    run("build", a, "-o", tmp_path / "a.apkg", env={"SOURCE_DATE_EPOCH": "1700000000"})
    run("build", b, "-o", tmp_path / "b.apkg", env={"SOURCE_DATE_EPOCH": "1700009999"})
    assert run("build", a, b, "-o", tmp_path / "both.apkg").exit_code == 0
    db = _read_collection(tmp_path / "both.apkg")
    models = json.loads(db.execute("select models from col").fetchone()[0])
    assert {m["name"]: m["mod"] for m in models.values()}["factdeck Basic"] == 1700009999
