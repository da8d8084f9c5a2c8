"""Built packages imported into a fresh collection by the official `anki` library."""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path

from conftest import SIMPLE_DECK
from factdeck import notetypes
from factdeck.build import build

T0 = 1_700_000_000


def _visible(html: str) -> str:
    html = re.sub(r"<style>.*?</style>", "", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def _build(deck, out, now):
    result = build([str(deck)], output=out, now=now)
    assert not result.errors, result.errors
    return result


def _card(col, note_id, ord_):
    note = col.notes()[note_id]
    return next(c for c in col.cards() if c.nid == note.id and c.ord == ord_)


def test_import_gives_every_note_card_and_deck(write_deck, tmp_path, anki):
    deck = write_deck(SIMPLE_DECK)
    _build(deck, tmp_path / "demo.apkg", T0)
    col = anki()
    log = col.import_package(tmp_path / "demo.apkg")
    assert len(log.new) == 5 and not log.updated and not log.conflicting
    notes = col.notes()
    assert set(notes) == {"baclofen-moa", "baclofen-routes", "tizanidine-class", "dantrolene-site", "nested"}
    # basic 1 + cloze 2 + reversed 2 + basic 1 + nested cloze 3
    assert len(col.cards()) == 9
    assert {col.col.decks.name(c.did) for c in col.cards()} == {"Demo::Pharmacology"}
    assert notes["baclofen-moa"].note_type()["name"] == "factdeck Basic"
    assert notes["tizanidine-class"].note_type()["name"] == "factdeck Basic (and reversed)"
    assert notes["baclofen-routes"].note_type()["name"] == "factdeck Cloze"
    assert sorted(notes["baclofen-moa"].tags) == ["demo", "mechanism"]


def test_basic_card_renders_question_then_answer_extra_and_sources(write_deck, tmp_path, anki):
    _build(write_deck(SIMPLE_DECK), tmp_path / "demo.apkg", T0)
    col = anki()
    col.import_package(tmp_path / "demo.apkg")
    card = _card(col, "baclofen-moa", 0)
    question, answer = _visible(card.question()), _visible(card.answer())
    assert question == "Baclofen acts on which receptor?"
    assert "GABA-B receptor (agonist)" in answer and "Acts mainly at the spinal cord." in answer
    assert 'href="https://dailymed.nlm.nih.gov/dailymed/search.cfm?query=baclofen"' in card.answer()
    assert "fd-card" in card.question() and ".nightMode" in card.question()  # our CSS is applied


def test_reversed_note_asks_both_ways(write_deck, tmp_path, anki):
    _build(write_deck(SIMPLE_DECK), tmp_path / "demo.apkg", T0)
    col = anki()
    col.import_package(tmp_path / "demo.apkg")
    assert _visible(_card(col, "tizanidine-class", 0).question()) == "Tizanidine"
    assert _visible(_card(col, "tizanidine-class", 1).question()) == "Central alpha-2 agonist"
    assert "Tizanidine" in _visible(_card(col, "tizanidine-class", 1).answer())


def test_cloze_cards_hide_their_gap_and_reveal_it_on_the_answer(write_deck, tmp_path, anki):
    _build(write_deck(SIMPLE_DECK), tmp_path / "demo.apkg", T0)
    col = anki()
    col.import_package(tmp_path / "demo.apkg")
    first, second = _card(col, "baclofen-routes", 0), _card(col, "baclofen-routes", 1)
    assert "[...]" in _visible(first.question()) and "intrathecal" not in _visible(first.question())
    assert "pump" in _visible(first.question())
    assert "intrathecal" in _visible(first.answer())
    assert "pump" not in _visible(second.question()) and "intrathecal" in _visible(second.question())


def test_nested_clozes_and_hints_each_get_a_card(write_deck, tmp_path, anki):
    _build(write_deck(SIMPLE_DECK), tmp_path / "demo.apkg", T0)
    col = anki()
    col.import_package(tmp_path / "demo.apkg")
    assert sorted(c.ord for c in col.cards() if c.nid == col.notes()["nested"].id) == [0, 1, 2]
    inner = _visible(_card(col, "nested", 1).question())
    assert "GABA-B" not in inner and "Baclofen" in inner
    assert "[drug]" in _visible(_card(col, "nested", 2).question())


EDITED = SIMPLE_DECK.replace(
    "back: GABA-B receptor (agonist)", "back: GABA-B receptor (a GABA analogue agonist)"
).replace("back: Skeletal muscle (ryanodine receptor)", "back: Skeletal muscle (RyR1)")


def test_edited_facts_update_in_place_and_keep_user_edits_and_history(write_deck, tmp_path, anki):
    deck = write_deck(SIMPLE_DECK)
    _build(deck, tmp_path / "v1.apkg", int(time.time()) - 1000)
    col = anki()
    assert len(col.import_package(tmp_path / "v1.apkg").new) == 5
    reviewed = col.review_all()
    revlog_before = col.col.db.scalar("select count() from revlog")
    assert revlog_before == reviewed == 9
    for note in col.notes().values():  # the user adds a personal mnemonic to every note
        note["Extra"] += " (my mnemonic)"
        col.col.update_note(note)

    deck.write_text(EDITED, encoding="utf-8")
    _build(deck, tmp_path / "v2.apkg", int(time.time()) + 100)  # the maintainer's later build
    log = col.import_package(tmp_path / "v2.apkg")

    assert {n.fields[0] for n in log.updated} == {
        "Baclofen acts on which receptor?",
        "Where does dantrolene act?",
    }
    assert len(log.updated) == 2 and not log.new and not log.conflicting
    notes = col.notes()
    assert len(notes) == 5 and len(col.cards()) == 9
    assert notes["baclofen-moa"]["Back"] == "GABA-B receptor (a GABA analogue agonist)"
    assert notes["dantrolene-site"]["Back"] == "Skeletal muscle (RyR1)"
    for note_id in ("baclofen-routes", "tizanidine-class", "nested"):
        assert notes[note_id]["Extra"].endswith("(my mnemonic)")
    assert col.col.db.scalar("select count() from revlog") == revlog_before
    assert all(c.type != 0 for c in col.cards())  # no card went back to "new"


def test_source_date_epoch_earlier_than_the_lock_still_delivers_an_edit(write_deck, tmp_path, anki, run):
    deck = write_deck(SIMPLE_DECK)
    _build(deck, tmp_path / "v1.apkg", 1_800_000_000)
    deck.write_text(EDITED, encoding="utf-8")
    result = run("build", deck, "-o", tmp_path / "v2.apkg", env={"SOURCE_DATE_EPOCH": str(T0)})
    assert result.exit_code == 0, result.output
    assert "2 changed: baclofen-moa, dantrolene-site" in result.output
    col = anki()
    col.import_package(tmp_path / "v1.apkg")
    log = col.import_package(tmp_path / "v2.apkg")
    assert len(log.updated) == 2 and len(log.duplicate) == 3


def test_restyled_note_type_reaches_the_collection_without_touching_notes(
    write_deck, tmp_path, anki, monkeypatch
):
    deck = write_deck(SIMPLE_DECK)
    _build(deck, tmp_path / "v1.apkg", T0)
    col = anki()
    col.import_package(tmp_path / "v1.apkg")
    restyled = dataclasses.replace(notetypes.BASIC, css=notetypes.BASIC.css + "\n.fd-card { color: teal; }\n")
    monkeypatch.setitem(notetypes.BY_KEY, "basic", restyled)
    result = _build(deck, tmp_path / "v2.apkg", T0 + 50)
    assert result.reports[0].changes.restyled == ["factdeck Basic"]
    assert not result.reports[0].changes.changed
    log = col.import_package(tmp_path / "v2.apkg")
    assert not log.updated and not log.new
    model = col.col.models.by_name("factdeck Basic")
    assert "color: teal" in model["css"]
    assert "color: teal" not in col.col.models.by_name("factdeck Cloze")["css"]


def test_new_card_css_restyles_every_builtin_note_type_and_updates_no_note(
    write_deck, tmp_path, anki, monkeypatch
):
    """What a release that changes card.css does: every note type's time moves, no note's does;
    users re-importing with default options get the new look, with their edits and history kept."""
    deck = write_deck(SIMPLE_DECK)
    _build(deck, tmp_path / "v1.apkg", T0)
    col = anki()
    col.import_package(tmp_path / "v1.apkg")
    assert col.review_all() == len(col.cards())
    note = col.notes()["baclofen-moa"]
    note["Extra"] = "my own mnemonic"
    col.col.update_note(note)

    css = notetypes.CSS + "\n.fd-card { letter-spacing: 0.01em; }\n"
    for key, nt in list(notetypes.BY_KEY.items()):
        monkeypatch.setitem(notetypes.BY_KEY, key, dataclasses.replace(nt, css=css))
    result = _build(deck, tmp_path / "v2.apkg", T0 + 50)
    changes = result.reports[0].changes
    assert sorted(changes.restyled) == sorted(nt.name for nt in notetypes.BY_KEY.values())
    assert not changes.changed and not changes.new

    log = col.import_package(tmp_path / "v2.apkg")
    assert (len(log.updated), len(log.new), len(log.conflicting)) == (0, 0, 0)
    assert len(log.duplicate) == len(col.notes())  # every note seen, none touched
    # rendered by Anki's backend from the collection (the Python side caches note types)
    cards = col.cards()
    assert {col.col.get_note(c.nid).note_type()["name"] for c in cards} == {
        nt.name for nt in notetypes.BY_KEY.values()
    }
    assert all(f"<style>{css}</style>" in card.question() for card in cards)
    assert col.notes()["baclofen-moa"]["Extra"] == "my own mnemonic"
    assert all(card.reps == 1 for card in col.cards())


def test_added_field_warns_and_arrives_with_merge_and_always(write_deck, tmp_path, anki, monkeypatch, run):
    deck = write_deck(SIMPLE_DECK)
    _build(deck, tmp_path / "v1.apkg", T0)
    col = anki()
    col.import_package(tmp_path / "v1.apkg")
    reviewed = col.review_all()
    grown = dataclasses.replace(
        notetypes.BASIC, fields=(*notetypes.BASIC.fields, notetypes.Field("Mnemonic", "id"))
    )
    monkeypatch.setitem(notetypes.BY_KEY, "basic", grown)
    result = run("build", deck, "-o", tmp_path / "v2.apkg", env={"SOURCE_DATE_EPOCH": str(T0 + 50)})
    assert result.exit_code == 0
    assert (
        "note type 'factdeck Basic' gained field 'Mnemonic': users must tick Merge note types and set "
        "Update notes to Always when importing this version"
    ) in result.output
    log = col.import_package(tmp_path / "v2.apkg", merge_notetypes=True, update_notes="always")
    assert not log.new and not log.conflicting
    notes = col.notes()
    assert len(notes) == 5 and len(col.cards()) == 9
    assert notes["baclofen-moa"]["Mnemonic"] == "baclofen-moa"
    assert notes["dantrolene-site"]["Mnemonic"] == "dantrolene-site"
    assert col.col.db.scalar("select count() from revlog") == reviewed
    ours = [m.name for m in col.col.models.all_names_and_ids() if m.name.startswith("factdeck")]
    assert sorted(ours) == ["factdeck Basic", "factdeck Basic (and reversed)", "factdeck Cloze"]  # no "NAME+"


def test_images_are_bundled_as_media_and_shown_on_the_card(write_deck, tmp_path, anki):
    (tmp_path / "images").mkdir()
    png = (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15"
        b"\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
    )
    (tmp_path / "images" / "pump.png").write_bytes(png)
    deck = write_deck(
        SIMPLE_DECK.replace("extra: Acts mainly at the spinal cord.", 'extra: "![A pump](images/pump.png)"')
    )
    _build(deck, tmp_path / "demo.apkg", T0)
    col = anki()
    col.import_package(tmp_path / "demo.apkg")
    answer = _card(col, "baclofen-moa", 0).answer()
    name = re.search(r'<img src="([^"]+)"', answer).group(1)
    assert name.startswith("factdeck-") and name.endswith(".png")
    media = col.col.media.dir()
    assert (tmp_path / "images" / "pump.png").read_bytes() == Path(media, name).read_bytes()
