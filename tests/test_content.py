"""The shipped decks: sourced, tagged, unduplicated, and importable into Anki."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
import yaml

from factdeck.build import build, check

DECKS = Path(__file__).resolve().parent.parent / "decks"
PUMP_TAG = "drug::baclofen::intrathecal"  # a child of drug::baclofen, so tag:drug::baclofen finds pump cards
INTRATHECAL_LABEL = "fda-baclofen-intrathecal"
# Which source is a label or a guideline is read from the key and the title, so a new one is covered too.
LABEL_OR_GUIDELINE = re.compile(
    r"prescribing information|summary of product characteristics|guideline|consensus|criteria", re.I
)
GUIDELINE = re.compile(r"guideline|consensus|criteria", re.I)
SAFETY_COMMUNICATION = re.compile(r"drug safety (communication|podcast)", re.I)
# Issue 12 splits: old id (keeps one half) -> (new id, a phrase that moved to the new half only).
SPLITS = {
    "baclofen-why-ms-central-spasticity": ("baclofen-first-line-by-guideline", "first line"),
    "itb-withdrawal-causes": ("itb-withdrawal-prevention", "alarms"),
    "comparison-must-taper": ("comparison-withdrawal-rebound-hypertension", "rebound hypertension"),
    "comparison-fda-labelled-for-spasticity": ("comparison-offlabel-vs-not-effective", "off-label"),
    "dantrolene-oversimplification": ("dantrolene-what-limits-use", "hepatotoxicity"),
    "vignette-ms-spasticity-nice": ("vignette-ms-spasticity-epilepsy-gabapentin", "gabapentin"),
}
DRUGS = {
    "baclofen",
    "baclofen::intrathecal",
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


def _tested_text(note) -> str:
    """What a card asks and answers: the fields without Extra, Sources and ID."""
    names = note.notetype.field_names
    return " ".join(v for n, v in zip(names, note.fields) if n not in ("Extra", "Sources", "ID")).lower()


def _raw_notes():
    """Every note as written, with its deck's sources: citations keep their locators here."""
    for path in sorted(DECKS.rglob("*.yaml")):
        deck = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
        for note in deck["notes"]:
            yield deck.get("sources", {}), note


def _citations(note) -> list[tuple[str, str]]:
    """(key, locator) per citation: the first space ends the key (README, "Citations")."""
    return [
        (key, locator.strip())
        for key, _, locator in (item.partition(" ") for item in note.get("sources", []))
    ]


def _is_label_or_guideline(key: str, source: dict) -> bool:
    """FDA safety communications (no sections to point at) are the only fda- sources without a locator."""
    if key.startswith("fda-") and SAFETY_COMMUNICATION.search(source["title"]):
        return False
    return key.startswith(("fda-", "nice-")) or bool(LABEL_OR_GUIDELINE.search(source["title"]))


def _is_guideline(key: str, source: dict) -> bool:
    return key.startswith("nice-") or bool(GUIDELINE.search(source["title"]))


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
    assert any("withdrawal" in t and PUMP_TAG in n.tags for t, n in zip(text, vignettes))


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


def test_every_pump_card_is_tagged_as_a_child_of_baclofen(checked):
    pump = [
        n
        for n in _notes(checked)
        if INTRATHECAL_LABEL in n.sources or any("intrathecal" in t for t in n.tags)
    ]
    assert len(pump) >= 10
    for note in pump:
        assert PUMP_TAG in note.tags, note.id
        assert all(t == PUMP_TAG for t in note.tags if "intrathecal" in t), note.id


def test_filtering_on_baclofen_in_anki_finds_every_pump_card(checked, tmp_path, anki):
    """Anki decides what tag:drug::baclofen matches; the deck only has to use its hierarchy."""
    copy = tmp_path / "decks"
    shutil.copytree(DECKS, copy)
    result = build([str(copy)], output=tmp_path / "decks.apkg")
    assert not result.errors
    col = anki()
    col.import_package(tmp_path / "decks.apkg")
    found = {col.col.get_note(nid)["ID"] for nid in col.col.find_notes("tag:drug::baclofen")}
    pump = {n.id for n in _notes(checked) if PUMP_TAG in n.tags}
    oral = {n.id for n in _notes(checked) if "drug::baclofen" in n.tags}
    pump_only = pump - oral  # tagged with the child tag alone
    assert pump_only and oral and pump | oral <= found


def test_the_locator_check_knows_labels_and_guidelines():
    assert _is_label_or_guideline("fda-anything", {"title": "Anything, US prescribing information"})
    assert _is_label_or_guideline("fda-new-label", {"title": "A title that names no kind of source"})
    assert not _is_label_or_guideline("fda-dsc", {"title": "FDA warns (FDA Drug Safety Communication, 2019)"})
    assert _is_label_or_guideline("nice-ng220", {"title": "Multiple sclerosis in adults"})
    assert _is_label_or_guideline("sativex-smpc", {"title": "Sativex, Summary of Product Characteristics"})
    assert _is_label_or_guideline("aan-2016", {"title": "Practice guideline update summary"})
    assert not _is_label_or_guideline(
        "leung-2006", {"title": "Baclofen overdose: defining the spectrum of toxicity"}
    )
    assert _citations({"sources": ["nice-ng220 1.5.27", "statpearls-baclofen"]}) == [
        ("nice-ng220", "1.5.27"),
        ("statpearls-baclofen", ""),
    ]


def test_every_note_writes_its_tags_and_sources_in_one_style():
    """Tags are drug:: or topic:: (or the deck's own); a citation is a key, or a key, one space and a locator."""
    for sources, note in _raw_notes():
        assert all(t.startswith(("drug::", "topic::")) for t in note.get("tags", [])), note["id"]
        for item in note.get("sources", []):
            key, _, locator = item.partition(" ")
            assert key in sources and locator == locator.strip() and "  " not in item, (note["id"], item)


@pytest.mark.parametrize("old", sorted(SPLITS))
def test_a_split_card_keeps_its_id_and_moves_one_fact_to_a_new_note(checked, old):
    new, moved = SPLITS[old]
    notes = {n.id: n for n in _notes(checked)}
    assert old in notes and new in notes
    assert moved in _tested_text(notes[new])
    assert moved not in _tested_text(notes[old])
    for note in (notes[old], notes[new]):
        if note.notetype.key != "cloze":
            assert note.fields[0].count("?") == 1, note.id  # one question per card


def test_every_label_and_guideline_citation_has_a_locator():
    missing = [
        (note["id"], key)
        for sources, note in _raw_notes()
        for key, locator in _citations(note)
        if _is_label_or_guideline(key, sources[key]) and not locator
    ]
    assert not missing


def test_every_card_citing_a_guideline_is_tagged_guideline():
    untagged = [
        note["id"]
        for sources, note in _raw_notes()
        if any(_is_guideline(key, sources[key]) for key, _ in _citations(note))
        and "topic::guideline" not in note.get("tags", [])
    ]
    assert not untagged


def test_no_cloze_shows_its_own_answer_in_the_prompt():
    """A quantity in a gap (80 mg, 2 weeks) must not also stand in the text around it."""
    cloze = re.compile(r"\{\{c(\d+)::((?:(?!\}\}).)*?)(?:::(?:(?!\}\}).)*?)?\}\}")
    quantity = re.compile(
        r"\d+(?:[.,–-]\d+)*\s*(?:mg|mcg|ml|%|days?|weeks?|hours?|months?|years?|minutes?)\b", re.I
    )
    for _, note in _raw_notes():
        text = note.get("text", "")
        for number in {m.group(1) for m in cloze.finditer(text)}:
            prompt = cloze.sub(lambda m, n=number: "[...]" if m.group(1) == n else m.group(2), text).lower()
            for m in cloze.finditer(text):
                if m.group(1) == number:
                    answer = m.group(2).lower()
                    assert answer not in prompt, (note["id"], answer)
                    assert not any(q.lower() in prompt for q in quantity.findall(answer)), (
                        note["id"],
                        answer,
                    )


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
