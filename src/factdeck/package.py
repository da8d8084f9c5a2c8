"""Write an .apkg: a SQLite collection plus media in a zip, atomically and reproducibly.

genanki supplies the collection schema and the note type and deck JSON; the rows go in with
one ``executemany`` per table (genanki inserts row by row), the database is serialised from
memory, and the zip is deflated (genanki stores it uncompressed). Every time in the package
comes from the lock, so the same input gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import genanki
from genanki.apkg_col import APKG_COL
from genanki.apkg_schema import APKG_SCHEMA

from .assemble import BuiltDeck
from .lock import Lock
from .notetypes import NoteType

_TAGS = re.compile(r"<[^>]*>")


@dataclass
class Part:
    """One deck going into a package, with the lock that times its notes."""

    deck: BuiltDeck
    lock: Lock


def package_time(parts: list[Part]) -> int:
    return max((p.lock.newest() for p in parts), default=0) or 315532800  # 1980-01-01


def notetype_times(parts: list[Part]) -> dict[str, int]:
    """Each note type takes the newest time any of the combined decks gives it."""
    times: dict[str, int] = {}
    for part in parts:
        for key, (_, t, _) in part.lock.notetypes.items():
            times[key] = max(times.get(key, 0), t)
    return times


def collection_bytes(parts: list[Part]) -> bytes:
    stamp = package_time(parts)
    nt_times = notetype_times(parts)
    db = sqlite3.connect(":memory:")
    try:
        db.executescript(APKG_SCHEMA)
        db.executescript(APKG_COL)
        models: dict[str, dict] = {}
        decks_json = json.loads(db.execute("SELECT decks FROM col").fetchone()[0])
        note_rows, card_rows = [], []
        position = 0
        for part in parts:
            built, lock = part.deck, part.lock
            gdeck = genanki.Deck(built.anki_id, built.deck.name, built.description)
            deck_json = gdeck.to_json()
            deck_json["mod"] = stamp
            decks_json[str(built.anki_id)] = deck_json
            for nt in built.notetypes().values():
                if str(nt.id) not in models:
                    models[str(nt.id)] = _model_json(nt, nt_times.get(nt.key, stamp), built.anki_id)
            for note in built.notes:
                _, mod, added = lock.notes[note.id]
                first = note.fields[0]
                if "<" in first:
                    first = _TAGS.sub("", first)
                csum = int(hashlib.sha1(first.encode()).hexdigest()[:8], 16)
                tags = f" {' '.join(note.tags)} " if note.tags else ""
                position += 1
                note_rows.append([added, note.guid, note.notetype.id, mod, -1, tags,
                                  "\x1f".join(note.fields), first, csum, 0, ""])
                card_rows.append((built.anki_id, note.ords, mod, position))
        _assign_ids(note_rows, card_rows)
        cards = [(cid, nid, did, ord_, mod, -1, 0, 0, pos, 0, 0, 0, 0, 0, 0, 0, 0, "")
                 for nid, cids, (did, ords, mod, pos) in card_rows for cid, ord_ in zip(cids, ords)]
        db.execute("UPDATE col SET crt = ?, mod = ?, scm = ?, models = ?, decks = ?",
                   (stamp, stamp * 1000, stamp * 1000, json.dumps(models, sort_keys=True),
                    json.dumps(decks_json, sort_keys=True)))
        db.executemany("INSERT INTO notes VALUES (?,?,?,?,?,?,?,?,?,?,?)", note_rows)
        db.executemany("INSERT INTO cards VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", cards)
        db.commit()
        return db.serialize()
    finally:
        db.close()


def _assign_ids(note_rows: list[list], card_rows: list[tuple]) -> None:
    """Note and card IDs in milliseconds of the time each note was first added, as Anki's are.

    Anki shows a note's ID as its creation date. Notes added in the same second take
    consecutive IDs in file order, so IDs are unique and the same input gives the same IDs.
    ``note_rows[i][0]`` holds the added time on entry and the note ID on return;
    ``card_rows[i]`` becomes (note ID, card IDs, original row).
    """
    added = [row[0] for row in note_rows]
    order = sorted(range(len(added)), key=added.__getitem__)
    last_nid = last_cid = 0
    for i in order:
        row = note_rows[i]
        nid = last_nid = max(row[0] * 1000, last_nid + 1)
        row[0] = nid
        cids = []
        for _ in card_rows[i][1]:
            last_cid = max(nid, last_cid + 1)
            cids.append(last_cid)
        card_rows[i] = (nid, cids, card_rows[i])


def _model_json(nt: NoteType, mod: int, deck_id: int) -> dict:
    model = genanki.Model(
        nt.id, nt.name,
        fields=[{"name": name} for name in nt.field_names],
        templates=[{"name": name, "qfmt": q, "afmt": a} for name, q, a in nt.templates],
        css=nt.css,
        model_type=genanki.Model.CLOZE if nt.cloze else genanki.Model.FRONT_BACK,
    )
    return model.to_json(mod, deck_id)


def write(path: Path, parts: list[Part]) -> None:
    """Write the package atomically; two builds racing for one path each rename a whole file."""
    stamp = package_time(parts)
    date = time.gmtime(max(stamp, 315532800))[:6]
    media = {}
    for part in parts:
        media.update(part.deck.media)
    names = sorted(media)
    collection = collection_bytes(parts)

    def fill(raw) -> None:
        with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
            _add(zf, "collection.anki2", collection, date)
            _add(zf, "media", json.dumps({str(i): n for i, n in enumerate(names)}).encode(), date)
            for i, name in enumerate(names):
                with open(media[name], "rb") as f:
                    _add(zf, str(i), f.read(), date)

    atomic_write(path, fill)


def _add(zf: zipfile.ZipFile, name: str, data: bytes, date) -> None:
    info = zipfile.ZipInfo(name, date_time=date)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def atomic_write(path: Path, fill) -> None:
    """Write through ``fill(file)`` into a temporary file beside ``path``, then rename it over.

    Readers see the old file or the new one, never a part; on any failure the temporary file
    goes and the old file stays.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            fill(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
