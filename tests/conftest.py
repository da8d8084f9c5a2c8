"""Shared test helpers: writing deck files, building them, and importing into real Anki."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from factdeck.cli import cli

SIMPLE_DECK = """\
deck:
  id: demo
  name: "Demo::Pharmacology"
  description: A *small* demo deck
tags: [demo]
sources:
  label:
    title: Baclofen tablets, US prescribing information
    url: https://dailymed.nlm.nih.gov/dailymed/search.cfm?query=baclofen
notes:
  - id: baclofen-moa
    front: Baclofen acts on which receptor?
    back: GABA-B receptor (agonist)
    extra: Acts mainly at the spinal cord.
    tags: [mechanism]
    sources: [label]
  - id: baclofen-routes
    text: "Severe spasticity can be treated with {{c1::intrathecal}} baclofen via an implanted {{c2::pump}}."
    sources: [label]
  - id: tizanidine-class
    type: basic-reversed
    front: Tizanidine
    back: Central alpha-2 agonist
    sources: [label]
  - id: dantrolene-site
    front: Where does dantrolene act?
    back: Skeletal muscle (ryanodine receptor)
    sources: [label]
  - id: nested
    text: "{{c1::Baclofen {{c2::GABA-B}}}} and {{c3::diazepam::drug}}"
    sources: [label]
"""


@pytest.fixture
def write_deck(tmp_path):
    """Write a deck file (dedented) and return its path."""

    def write(text: str, name: str = "deck.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture
def run():
    """Run the CLI in-process; returns click's Result (exit_code, stdout, stderr)."""

    def invoke(*args: str, env: dict | None = None):
        return CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)

    return invoke


class AnkiCollection:
    """A fresh Anki collection driven through the official `anki` library (Anki's Rust backend)."""

    def __init__(self, path: Path):
        from anki.collection import Collection

        self.col = Collection(str(path))

    def import_package(
        self,
        apkg: Path,
        *,
        merge_notetypes: bool = False,
        update_notes: str = "if_newer",
        update_notetypes: str = "if_newer",
    ):
        """Import like Anki's import dialog; the defaults are the dialog's defaults."""
        from anki import import_export_pb2 as pb
        from anki.collection import ImportAnkiPackageOptions, ImportAnkiPackageRequest

        cond = {
            "if_newer": pb.IMPORT_ANKI_PACKAGE_UPDATE_CONDITION_IF_NEWER,
            "always": pb.IMPORT_ANKI_PACKAGE_UPDATE_CONDITION_ALWAYS,
            "never": pb.IMPORT_ANKI_PACKAGE_UPDATE_CONDITION_NEVER,
        }
        options = ImportAnkiPackageOptions(
            merge_notetypes=merge_notetypes,
            update_notes=cond[update_notes],
            update_notetypes=cond[update_notetypes],
            with_scheduling=False,
            with_deck_configs=False,
        )
        return self.col.import_anki_package(
            ImportAnkiPackageRequest(package_path=str(apkg), options=options)
        ).log

    def notes(self) -> dict[str, object]:
        """Notes keyed by their factdeck ID field."""
        return {self.col.get_note(nid)["ID"]: self.col.get_note(nid) for nid in self.col.find_notes("")}

    def cards(self):
        return [self.col.get_card(cid) for cid in self.col.find_cards("")]

    def review_all(self, ease: int = 3) -> int:
        """Answer every card once, as a user studying would; returns how many were answered."""
        self.col.decks.select(self.col.decks.id_for_name("Default") or 1)
        answered = 0
        for card in self.cards():
            card.start_timer()
            self.col.sched.answerCard(card, ease)
            answered += 1
        return answered

    def close(self):
        self.col.close()


@pytest.fixture
def anki(tmp_path):
    """A factory for fresh collections, closed at the end of the test."""
    opened = []

    def make(name: str = "collection.anki2") -> AnkiCollection:
        folder = tmp_path / f"anki-{len(opened)}"
        folder.mkdir()
        col = AnkiCollection(folder / name)
        opened.append(col)
        return col

    yield make
    for col in opened:
        col.close()
