"""The collection is the same file whether its cards are written by a second process or here."""

from __future__ import annotations

import io
import os
import sqlite3
import tempfile
import zipfile

import pytest

from conftest import SIMPLE_DECK
from factdeck import workers
from factdeck.ankifiles import package

SDE = {"SOURCE_DATE_EPOCH": "1700000000"}


def _build(run, deck, out):
    (deck.with_suffix(".lock")).unlink(missing_ok=True)
    result = run("build", deck, "-o", out, env=SDE)
    assert result.exit_code == 0, result.output
    return out.read_bytes()


@pytest.fixture
def two_ways(write_deck, tmp_path, run, monkeypatch):
    """The package of SIMPLE_DECK with its cards written here, and a function building it again."""
    deck = write_deck(SIMPLE_DECK)
    monkeypatch.setattr(package, "FORK_CARDS", 10**9)
    here = _build(run, deck, tmp_path / "here.apkg")
    monkeypatch.setattr(package, "FORK_CARDS", 0)
    monkeypatch.setattr(workers, "available", lambda: True)
    return here, lambda name: _build(run, deck, tmp_path / name)


def test_cards_written_by_a_second_process_give_the_same_package(two_ways, monkeypatch, anki):
    here, again = two_ways
    forks = []
    real = workers.Worker.__init__

    def counted(self, job):
        forks.append(job)
        real(self, job)

    monkeypatch.setattr(workers.Worker, "__init__", counted)
    forked = again("forked.apkg")
    assert forks, "the cards were not written by a second process"
    assert forked == here
    with zipfile.ZipFile(io.BytesIO(forked)) as zf, tempfile.TemporaryDirectory() as tmp:
        zf.extract("collection.anki2", tmp)
        db = sqlite3.connect(os.path.join(tmp, "collection.anki2"))
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = sorted(db.execute("SELECT nid, ord FROM cards").fetchall())
        db.close()
        path = os.path.join(tmp, "forked.apkg")
        with open(path, "wb") as f:
            f.write(forked)
        col = anki()
        col.import_package(path)
    assert len(rows) >= 3
    assert sorted((c.nid, c.ord) for c in col.cards()) == rows


def test_a_cards_writer_that_fails_is_done_again_here_with_the_same_result(two_ways, monkeypatch):
    here, again = two_ways

    def fail(path, cards):
        with open(path, "wb") as f:
            f.write(b"half a database")  # what a writer killed part-way could leave
        os._exit(3)

    monkeypatch.setattr(package, "_cards_job", fail)
    assert again("retried.apkg") == here


def test_a_cards_writer_that_cannot_be_started_is_done_here(two_ways, monkeypatch):
    here, again = two_ways

    def no_fork():
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    assert again("unforked.apkg") == here
