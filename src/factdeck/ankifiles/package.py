"""Write an .apkg: a SQLite collection plus media in a zip, atomically and reproducibly.

genanki supplies the collection schema and the note type and deck JSON; the rows go in with
one ``executemany`` per table (genanki inserts row by row), the database file is deflated
on all cores into the zip (genanki stores it uncompressed). Every time in the package
comes from the lock, so the same input gives the same bytes.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import sqlite3
import tempfile
import time
import zipfile
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import genanki
from genanki.apkg_col import APKG_COL
from genanki.apkg_schema import APKG_SCHEMA

from .. import history as histories
from .. import templates
from ..assemble import Built, BuiltDeck, subdeck_anki_id
from ..lock import Lock
from ..notetypes import ID_KEY, NoteType
from ..output import Staging, WriteFailed, private_workdir
from . import zipwriter
from .rows import checksum, sort_field

_STATEMENTS = [s for s in APKG_SCHEMA.split(";") if s.strip()]
_TABLES = ";".join(s for s in _STATEMENTS if "CREATE INDEX" not in s) + ";"
_INDEXES = ";".join(s for s in _STATEMENTS if "CREATE INDEX" in s) + ";"
_CARDS_INSERT = "INSERT INTO cards VALUES (?,?,?,?,?,-1,0,0,?,0,0,0,0,0,0,0,0,'')"

Entry = tuple[BuiltDeck, Built, tuple[str, int, int]]  # a note, its deck, its lock line (hash, time, added)


@dataclass
class Part:
    """One deck going into a package, with the lock that times its notes."""

    deck: BuiltDeck
    lock: Lock


def package_time(parts: list[Part]) -> int:
    return max((p.lock.newest() for p in parts), default=0) or 315532800  # 1980-01-01


def notetype_times(parts: list[Part]) -> dict[int, int]:
    """Each note type (by Anki ID) takes the newest time any of the combined decks gives it."""
    times: dict[int, int] = {}
    for part in parts:
        for nt in part.deck.notetypes().values():
            entry = part.lock.notetypes.get(nt.key)
            if entry is not None:
                times[nt.id] = max(times.get(nt.id, 0), entry[1])
    return times


def write_collection(db_path: str, parts: list[Part]) -> None:
    """The Anki collection as an SQLite file; rows are streamed into one transaction per table.

    (A forked writer for the cards table was tried in session 4: it saved about 0.5 s of a
    100,000-note build, but the parent's writes to pages it shared with the child copied them,
    and a rebuild's peak memory passed 400 MB.)
    """
    stamp = package_time(parts)
    nt_times = notetype_times(parts)
    entries = [(part.deck, note, part.lock.notes[note.id]) for part in parts for note in part.deck.notes]
    nids, cids = _assign_ids([added for _, _, (_, _, added) in entries], [len(n.ords) for _, n, _ in entries])
    db = sqlite3.connect(db_path)
    try:
        _write_notes(db, parts, entries, nids, stamp, nt_times)
        db.executemany(_CARDS_INSERT, _card_rows(_card_columns(entries, nids, cids)))
        _write_history(db, parts)
        db.executescript(_INDEXES)  # built once, after the rows: faster than updating them row by row
        db.commit()
    finally:
        db.close()


def _write_notes(
    db: sqlite3.Connection,
    parts: list[Part],
    entries: list[Entry],
    nids: list[int],
    stamp: int,
    nt_times: dict[int, int],
) -> None:
    """The collection's tables, its col row (note types, decks) and its notes."""
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    db.executescript(_TABLES)
    db.executescript(APKG_COL)
    models: dict[str, dict[str, Any]] = {}
    decks_json = json.loads(db.execute("SELECT decks FROM col").fetchone()[0])
    for part in parts:
        built = part.deck
        deck_json = genanki.Deck(built.anki_id, built.deck.name, built.description).to_json()
        deck_json["mod"] = stamp
        decks_json[str(built.anki_id)] = deck_json
        for sub in built.subdecks():
            sub_id = subdeck_anki_id(built.deck.id, sub)
            sub_json = genanki.Deck(sub_id, f"{built.deck.name}::{sub}", "").to_json()
            sub_json["mod"] = stamp
            decks_json[str(sub_id)] = sub_json
        for nt in built.notetypes().values():
            if str(nt.id) not in models:
                models[str(nt.id)] = _model_json(nt, nt_times.get(nt.id, stamp), built.anki_id)
    db.execute(
        "UPDATE col SET crt = ?, mod = ?, scm = ?, models = ?, decks = ?",
        (
            stamp,
            stamp * 1000,
            stamp * 1000,
            json.dumps(models, sort_keys=True),
            json.dumps(decks_json, sort_keys=True),
        ),
    )
    db.executemany("INSERT INTO notes VALUES (?,?,?,?,-1,?,?,?,?,0,'')", _note_rows(entries, nids))
    db.commit()


HISTORY_TABLES = """
CREATE TABLE factdeck_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE factdeck_history (guid TEXT PRIMARY KEY, history TEXT NOT NULL);
"""
HISTORY_FORMAT = "1"


def _write_history(db: sqlite3.Connection, parts: list[Part]) -> None:
    """What `factdeck sync` needs beyond the notes, in tables Anki's importer does not copy.

    factdeck_history holds, for the few notes that changed, the hashes of their earlier
    versions (history.package_json); factdeck_meta the format and each deck's factdeck id.
    """
    db.executescript(HISTORY_TABLES)
    decks = {str(part.deck.anki_id): part.deck.deck.id for part in parts}
    id_fields = {
        str(nt.id): f.name
        for part in parts
        for nt in part.deck.notetypes().values()
        for f in nt.fields
        if f.key in ("id", ID_KEY)
    }
    # deck id -> GUIDs not derived from note ids: the notes' own, and the lock's memory of those
    # of removed notes (sync flags a learner's note with one as removed; nothing else tells)
    explicit: dict[str, list[str]] = {}
    for part in parts:
        deck_id = part.deck.deck.id
        own = sorted({n.guid for n in part.deck.notes if n.own_guid} | set(part.lock.guids))
        if own:
            explicit[deck_id] = sorted({*explicit.get(deck_id, ()), *own})
    db.executemany(
        "INSERT INTO factdeck_meta VALUES (?, ?)",
        [
            ("decks", json.dumps(decks, sort_keys=True)),
            ("explicit_guids", json.dumps(explicit, sort_keys=True)),
            ("format", HISTORY_FORMAT),
            ("id_fields", json.dumps(id_fields, sort_keys=True)),
        ],
    )
    rows = []
    for part in parts:
        fields_of = {key: entry[2] for key, entry in part.lock.notetypes.items()}
        fresh = part.lock.fresh
        for note in part.deck.notes:
            if note.id in fresh:
                continue
            token = part.lock.history.get(note.id)
            row = histories.package_row(token, fields_of, note.flds, note.tags) if token else None
            if row is not None:
                rows.append((note.guid, row))
    db.executemany("INSERT OR REPLACE INTO factdeck_history VALUES (?, ?)", sorted(rows))


def _note_rows(entries: list[Entry], nids: list[int]) -> Iterator[tuple[object, ...]]:
    for (_, note, (_, mod, _)), nid in zip(entries, nids):
        flds, tags = note.flds, note.tags
        sort_text = sort_field(flds)
        yield (
            nid,
            note.guid,
            note.notetype.id,
            mod,
            f" {' '.join(tags)} " if tags else "",
            flds,
            sort_text,
            checksum(sort_text) if note.csum is None else note.csum,
        )


# array is not subscriptable at run time before Python 3.12, hence the quotes
CardColumns = tuple["array[int]", "array[int]", "array[int]", "array[int]", "array[int]", "array[int]"]


def _card_columns(entries: list[Entry], nids: list[int], cids: list[int]) -> CardColumns:
    """Per note: its ID, its first card's ID, its deck, its time, its card count; then every
    card's template ordinal."""
    subdeck_ids: dict[tuple[str, str], int] = {}
    dids = array("q")
    for built, note, _ in entries:
        did = built.anki_id
        if note.subdeck:
            key = (built.deck.id, note.subdeck)
            did = subdeck_ids.get(key) or subdeck_ids.setdefault(key, subdeck_anki_id(*key))
        dids.append(did)
    return (
        array("q", nids),
        array("q", cids),
        dids,
        array("q", [mod for _, _, (_, mod, _) in entries]),
        array("q", [len(note.ords) for _, note, _ in entries]),
        array("q", itertools.chain.from_iterable(note.ords for _, note, _ in entries)),
    )


def _card_rows(cards: CardColumns) -> Iterator[tuple[int, int, int, int, int, int]]:
    """New cards, due in file order (siblings share a position)."""
    nids, cids, dids, mods, counts, ords = cards
    k = 0
    for i, (nid, cid, did, mod, count) in enumerate(zip(nids, cids, dids, mods, counts)):
        for offset in range(count):
            yield (cid + offset, nid, did, ords[k + offset], mod, i + 1)
        k += count


def _assign_ids(added: list[int], card_counts: list[int]) -> tuple[list[int], list[int]]:
    """Note and card IDs in milliseconds of the time each note was first added, as Anki's are.

    Anki shows a note's ID as its creation date. Notes added in the same second take
    consecutive IDs in file order, so IDs are unique and the same input gives the same IDs.
    Returns each note's ID and the first of its consecutive card IDs.
    """
    nids = [0] * len(added)
    cids = [0] * len(added)
    last_nid = last_cid = 0
    for i in sorted(range(len(added)), key=added.__getitem__):
        nid = added[i] * 1000
        nid = last_nid = nid if nid > last_nid else last_nid + 1
        cid = nid if nid > last_cid else last_cid + 1
        nids[i], cids[i] = nid, cid
        last_cid = cid + card_counts[i] - 1
    return nids, cids


def _model_json(nt: NoteType, mod: int, deck_id: int) -> dict[str, Any]:
    model = genanki.Model(
        nt.id,
        nt.name,
        fields=[{"name": name} for name in nt.field_names],
        templates=[{"name": name, "qfmt": q, "afmt": a} for name, q, a in nt.templates],
        css=nt.css,
        model_type=genanki.Model.CLOZE if nt.cloze else genanki.Model.FRONT_BACK,
        sort_field_index=nt.sort_field,
    )
    if nt.custom:
        # Anki's own required-fields rule: genanki's (chevron) differs and fails on valid templates.
        model.__dict__["_req"] = [
            [ord_, *templates.requirements(front, nt.field_names)] for ord_, front in enumerate(nt.fronts)
        ]
    json_: dict[str, Any] = model.to_json(mod, deck_id)
    return json_


def write(path: Path, parts: list[Part]) -> None:
    """Write one package atomically; two builds racing for one path each rename a whole file."""
    with Staging() as staging:
        stage(staging, path, parts)
        staging.commit()


def stage(staging: Staging, path: Path, parts: list[Part]) -> None:
    """Build the package and stage it at ``path`` (committed with the rest of ``staging``).

    The collection is built in a private working folder in TMPDIR, removed when done (or by
    the next build, if this one is killed). Raises WriteFailed naming ``path``.
    """
    stamp = package_time(parts)
    date = time.gmtime(max(stamp, 315532800))[:6]
    media: dict[str, str] = {}
    owner: dict[str, str] = {}  # file on disk -> the deck file that bundles it, for messages
    for part in parts:
        media.update(part.deck.media)
        for source in part.deck.media.values():
            owner.setdefault(source, part.deck.deck.path)
    names = sorted(media)
    try:
        with private_workdir() as tmp:
            db_path = os.path.join(tmp, "collection.anki2")
            write_collection(db_path, parts)

            entries: list[tuple[str, bytes | str]] = [
                ("collection.anki2", db_path),
                ("media", json.dumps({str(i): n for i, n in enumerate(names)}).encode()),
            ]
            entries += [(str(i), media[name]) for i, name in enumerate(names)]

            def fill(raw: IO[bytes]) -> None:
                try:
                    try:
                        zipwriter.write_zip(raw, entries, date)
                    except zipwriter.TooLarge:  # past 4 GiB: the zipfile module writes zip64
                        raw.seek(0)
                        raw.truncate()
                        with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
                            for name, source in entries:
                                _add(zf, name, source, date)
                except zipwriter.Unreadable as e:
                    source = os.fsdecode(e.filename)
                    deck = f" (bundled by {owner[source]})" if source in owner else ""
                    raise WriteFailed(path, f"cannot read {source}{deck}: {e.strerror}") from e

            staging.add(path, fill)
    except sqlite3.Error as e:
        full = "full" in str(e)
        raise WriteFailed(path, _in_tmpdir("no space left" if full else f"SQLite failed ({e})")) from e
    except zipwriter.error as e:
        raise MemoryError from e  # deflate fails only for want of memory
    except OSError as e:  # the working folder or a media file; the package's own file is WriteFailed
        if e.filename is not None and not os.fspath(e.filename).startswith(tempfile.gettempdir()):
            raise WriteFailed(path, f"cannot read {os.fsdecode(e.filename)}: {e.strerror or e}") from e
        raise WriteFailed(path, _in_tmpdir(e.strerror or str(e))) from e


def _in_tmpdir(what: str) -> str:
    return (
        f"{what} in the temporary folder {tempfile.gettempdir()} "
        "(set TMPDIR to a folder with room for the collection, about 800 bytes a note)"
    )


def _add(
    zf: zipfile.ZipFile, name: str, data: bytes | str, date: tuple[int, int, int, int, int, int]
) -> None:
    """One zip entry with a fixed date, from bytes or streamed from a file path."""
    info = zipfile.ZipInfo(name, date_time=date)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    if isinstance(data, bytes):
        zf.writestr(info, data)
        return
    with os.fdopen(zipwriter.open_regular(data), "rb") as src, zf.open(info, "w") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
