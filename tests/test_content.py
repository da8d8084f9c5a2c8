"""The shipped decks: sourced, tagged, unduplicated, and importable into Anki."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from factdeck.build import build, check

DECKS = Path(__file__).resolve().parent.parent / "decks"
DRUGS = {
    "baclofen",
    "baclofen-intrathecal",
    "tizanidine",
    "dantrolene",
    "benzodiazepines",
    "gabapentin",
    "cyclobenzaprine",
    "botulinum-toxin",
    "nabiximols",
}


@pytest.fixture(scope="module")
def checked():
    result = check([str(DECKS)])
    assert not result.diagnostics, [d.format() for d in result.diagnostics]
    return result


def _notes(checked):
    return [note for built in checked.decks for note in built.notes]


def _text(note) -> str:
    """What a student reads on the note: its fields without the Sources list and the ID."""
    names = note.notetype.field_names
    return " ".join(v for n, v in zip(names, note.fields) if n not in ("Sources", "ID")).lower()


def test_decks_have_at_least_100_notes_of_both_kinds(checked):
    kinds = Counter(note.notetype.key for note in _notes(checked))
    assert sum(kinds.values()) >= 100
    assert kinds["cloze"] >= 20 and kinds["basic"] + kinds["basic-reversed"] >= 20


def test_every_note_cites_a_source_with_a_url(checked):
    for built in checked.decks:
        for note in built.notes:
            assert note.sources, note.id
            assert all(built.deck.sources[key].url for key in note.sources), note.id


def test_every_note_is_tagged_by_drug_and_topic(checked):
    for note in _notes(checked):
        assert any(t.startswith("drug::") for t in note.tags), note.id
        assert any(t.startswith("topic::") for t in note.tags), note.id


def test_every_drug_in_scope_is_covered(checked):
    covered = Counter(t.split("::", 1)[1] for n in _notes(checked) for t in n.tags if t.startswith("drug::"))
    assert all(covered[drug] >= 3 for drug in DRUGS), covered


def test_vignettes_cover_ms_spasticity_and_intrathecal_withdrawal(checked):
    vignettes = [n for n in _notes(checked) if "topic::vignette" in n.tags]
    text = [_text(n) for n in vignettes]
    assert any("multiple sclerosis" in t or " ms " in f" {t} " for t in text)
    assert any("withdrawal" in t and "drug::baclofen-intrathecal" in n.tags for t, n in zip(text, vignettes))


def test_no_two_notes_ask_the_same_question(checked):
    def norm(s: str) -> str:
        return re.sub(r"\W+", " ", s.lower()).strip()

    questions = [norm(n.fields[0]) for n in _notes(checked)]
    duplicates = [q for q, count in Counter(questions).items() if count > 1]
    assert not duplicates


def test_first_line_claims_name_their_guideline(checked):
    for note in _notes(checked):
        text = _text(note)
        if "first line" in text or "first-line" in text:
            assert re.search(r"nice|ng220|consensus|otero|guideline", text), note.id


def test_shipped_decks_import_into_anki_with_every_card(checked, tmp_path, anki):
    copy = tmp_path / "decks"
    shutil.copytree(DECKS, copy)
    result = build([str(copy)], output=tmp_path / "decks.apkg")
    assert not result.errors
    col = anki()
    log = col.import_package(tmp_path / "decks.apkg")
    notes = sum(len(b.notes) for b in checked.decks)
    assert len(log.new) == notes and not log.conflicting
    assert len(col.cards()) == sum(b.card_count for b in checked.decks)
    for card in col.cards():
        assert card.question().strip() and card.answer().strip()


def test_committed_locks_are_current(tmp_path):
    copy = tmp_path / "decks"
    shutil.copytree(DECKS, copy)
    result = build([str(copy)], output=tmp_path / "x.apkg", locked=True)
    assert not result.stale, result.stale


def test_split_other_drug_cards_keep_the_old_id_and_move_one_fact_to_the_new_id(checked):
    """Issue 12: a split keeps the old id (users keep its history) and moves the other fact out."""
    notes = {note.id: _text(note) for note in _notes(checked)}
    splits = [
        # old id, new id, a word only the old half tests, a word only the new half tests
        ("botulinum-focal-vs-generalised", "botulinum-dose-ceiling", "focal", "400 units"),
        ("nabiximols-licensed-indication", "nabiximols-specialist-initiation", "add-on", "specialist"),
    ]
    for old, new, kept, moved in splits:
        assert old in notes and new in notes, (old, new)
        assert kept in notes[old] and moved in notes[new], (old, new)
        assert moved not in notes[old], f"{old} still tests what moved to {new}"
