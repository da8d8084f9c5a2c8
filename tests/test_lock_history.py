"""Note histories in the lock and in packages: old locks still read, nothing else changes."""

from __future__ import annotations

import json
import re
import sqlite3
import sys
import zipfile

from hypothesis import example, given, settings
from hypothesis import strategies as st

from factdeck import lock as lockfile
from factdeck.build import build
from test_sync import T0, V1, V2


def _strip_histories(lock):
    """The lock as factdeck wrote it before histories."""
    lines = lock.read_text().splitlines(keepends=True)
    lock.write_text(
        "".join(
            " ".join(line.split(" ")[:5]).rstrip("\n") + "\n" if line.startswith("note ") else line
            for line in lines
        )
    )


def _entries(lock):
    return [
        line.split(" ")[:5]
        for line in lock.read_text().splitlines()
        if line.startswith(("note ", "notetype "))
    ]


def test_an_old_lock_reads_and_keeps_every_hash_and_time(write_deck, tmp_path):
    deck = write_deck(V1)
    assert not build([str(deck)], output=tmp_path / "v1.apkg", now=T0).errors
    lock = deck.with_suffix(".lock")
    _strip_histories(lock)
    old = _entries(lock)
    result = build([str(deck)], output=tmp_path / "again.apkg", now=T0 + 500)
    assert not result.errors and not result.reports[0].changes.any()
    assert _entries(lock) == old  # users see no update for an unchanged note
    notes = [line for line in lock.read_text().splitlines() if line.startswith("note ")]
    assert all(len(line.split(" ")) == 6 and not line.split(" ")[5].startswith("?") for line in notes)


def test_a_note_an_old_lock_saw_change_gets_an_unknown_earlier_version(write_deck, tmp_path):
    deck = write_deck(V1)
    assert not build([str(deck)], output=tmp_path / "v1.apkg", now=T0).errors
    deck.write_text(V1.replace("A's first answer", "A's second answer"))
    assert not build([str(deck)], output=tmp_path / "v2.apkg", now=T0 + 10).errors
    lock = deck.with_suffix(".lock")
    _strip_histories(lock)
    deck.write_text(V1.replace("A's first answer", "A's third answer"))
    assert not build([str(deck)], output=tmp_path / "v3.apkg", now=T0 + 20).errors
    token = {
        line.split(" ")[1]: line.split(" ")[5]
        for line in lock.read_text().splitlines()
        if line.startswith("note ")
    }
    assert token["a"].startswith("?basic:") and not token["b"].startswith("?")


def test_histories_grow_by_one_hash_per_changed_field_and_rebuilds_are_identical(write_deck, tmp_path):
    deck = write_deck(V1)
    assert not build([str(deck)], output=tmp_path / "v1.apkg", now=T0).errors
    lock = deck.with_suffix(".lock")
    before = lock.read_text()
    deck.write_text(V1.replace("A's first answer", "A's second answer"))
    assert not build([str(deck)], output=tmp_path / "v2.apkg", now=T0 + 10).errors
    after = lock.read_text()
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines()) if a != b]
    assert len(changed) == 1 and changed[0][0].startswith("note a ")
    assert len(changed[0][1]) - len(changed[0][0]) == len(",12345678")  # Back's new hash
    first = (tmp_path / "v2.apkg").read_bytes()
    assert not build([str(deck)], output=tmp_path / "v2.apkg", now=T0 + 99).errors
    assert (tmp_path / "v2.apkg").read_bytes() == first and lock.read_text() == after
    lines = [line for line in after.splitlines() if not line.startswith("#")]
    assert lines == sorted(lines, key=lambda line: (not line.startswith("notetype "), line))


def test_anki_imports_a_package_with_histories_cleanly_and_ignores_them(write_deck, tmp_path, anki):
    deck = write_deck(V1)
    assert not build([str(deck)], output=tmp_path / "v1.apkg", now=T0).errors
    deck.write_text(V2)
    assert not build([str(deck)], output=tmp_path / "v2.apkg", now=T0 + 10).errors
    with zipfile.ZipFile(tmp_path / "v2.apkg") as zf:
        (tmp_path / "v2.anki2").write_bytes(zf.read("collection.anki2"))
    db = sqlite3.connect(tmp_path / "v2.anki2")
    rows = dict(db.execute("SELECT guid, history FROM factdeck_history"))
    meta = dict(db.execute("SELECT key, value FROM factdeck_meta"))
    db.close()
    assert len(rows) == 3  # a, b and c changed; no other note has an earlier version
    assert json.loads(meta["decks"]) and meta["format"] == "1"
    col = anki()
    log = col.import_package(tmp_path / "v2.apkg")
    assert len(log.new) == 8 and not log.updated and not log.conflicting and not log.missing_notetype
    tables = col.col.db.list("SELECT name FROM sqlite_master WHERE name LIKE 'factdeck%'")
    assert tables == []
    assert col.col.get_config("factdeck-sync", None) is None


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=14), st.from_regex(r"-?[0-9]{1,12}", fullmatch=True)))
@example("00000000000")
def test_lock_times_are_read_as_the_lock_format_defines_them(text):
    """Whole ASCII seconds up to the end of 2107, in at most as many digits as that time has; a
    negative, larger or longer number is out of range; any other text (Unicode digits, signs,
    spaces) is not a time."""
    if re.fullmatch(r"-?[0-9]+", text) is None:
        expected: object = ValueError
    elif text.startswith("-") or int(text) > lockfile.MAX_TIME or len(text) > len(str(lockfile.MAX_TIME)):
        expected = "out of range"
    else:
        expected = int(text)
    try:
        got: object = lockfile.parse_time(text)
    except ValueError as e:
        got = "out of range" if type(e).__name__ == "_OutOfRange" else ValueError
    assert got == expected


def test_lock_words_refuse_every_space_and_unprintable_character():
    for code in range(sys.maxunicode + 1):
        c = chr(code)
        try:
            lockfile._word(f"a{c}b")
            accepted = True
        except ValueError:
            accepted = False
        assert accepted == (c.isprintable() and not c.isspace()), hex(code)


def test_field_names_with_no_break_spaces_and_invisible_characters_read_back_from_the_lock(
    write_deck, tmp_path, run
):
    names = ["A\u00a0B", "C\u200bD", "E\u2066F\u2069", "G\ufeffH"]
    fields = ", ".join(json.dumps(n) for n in names)
    deck = write_deck(
        "deck: {id: d, name: D}\nnotetypes:\n  m:\n"
        f"    fields: [{fields}]\n"
        f'    templates: [{{front: "{{{{{names[0]}}}}}", back: "{{{{{names[1]}}}}}"}}]\n'
        f"notes:\n  - {{id: n1, type: m, fields: {{{json.dumps(names[0])}: q, {json.dumps(names[1])}: a}}}}\n"
    )
    out = tmp_path / "d.apkg"
    assert run("build", deck, "-o", out).exit_code == 0
    lock = tmp_path / "deck.lock"
    written = lock.read_text(encoding="utf-8")
    again = run("build", deck, "-o", out)
    assert again.exit_code == 0, again.output
    assert lock.read_text(encoding="utf-8") == written
    assert run("build", deck, "-o", out, "--locked").exit_code == 0


def test_a_lock_field_name_no_field_can_have_is_a_located_error(write_deck, tmp_path, run):
    deck = write_deck("deck: {id: d, name: D}\nnotes:\n  - {id: n1, front: q, back: a}\n")
    assert run("build", deck, "-o", tmp_path / "d.apkg").exit_code == 0
    lock = tmp_path / "deck.lock"
    lines = lock.read_text(encoding="utf-8").splitlines()
    (row,) = [n for n, line in enumerate(lines) if line.startswith("notetype ")]
    lines[row] = lines[row].rsplit(" ", 1)[0] + ' ["Front\\u0007", "B\\ud800"]'
    lock.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run("build", deck, "-o", tmp_path / "d.apkg")
    assert result.exit_code == 1
    assert (
        f"{lock}:{row + 1}:1: error: lock file deck.lock has a line factdeck does not understand"
        in result.output
    )


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_short_hashes_are_blake2b_of_four_bytes(data):
    import hashlib

    from factdeck import history

    assert history.short_hash(data) == hashlib.blake2b(data, digest_size=4).hexdigest()
    assert history.short_hash(data) == history.short_hash(data)  # the empty hasher is never changed
