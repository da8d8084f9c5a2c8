"""Reading Anki packages: the notes, note types and decks of an .apkg.

Reading a package never runs anything from it: the collection is copied out of the zip (with
a size cap) into an in-memory SQLite database opened query-only with an untrusted schema, and
only plain tables are read.
"""

from __future__ import annotations

import html
import json
import os
import re
import sqlite3
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

MAX_COLLECTION = 1 << 30  # bytes; larger "collections" are refused rather than unpacked


@dataclass(frozen=True)
class Snapshot:
    """One note as a side of the diff sees it."""

    guid: str
    deck: int  # Anki deck id
    id: str  # factdeck note id (the ID field)
    notetype: str
    field_names: tuple[str, ...]
    fields: tuple[str, ...]
    tags: tuple[str, ...]  # sorted: Anki does not care about tag order


class PackageError(Exception):
    """The file is not a package factdeck can read; the message says why."""


@dataclass
class PackageContents:
    notes: list[Snapshot] = field(default_factory=list)
    decks: dict[int, str] = field(default_factory=dict)  # Anki deck id -> name


def read_package(path: Path) -> PackageContents:
    """The notes and decks of an .apkg; raises PackageError for anything that is not one.

    A legacy collection (collection.anki2 or .anki21) is read here, as plain SQLite; Anki's
    newer format (collection.anki21b: zstd, with a stub collection.anki2 beside it) is read
    by Anki's own library, which must be installed for it.
    """
    with _open_regular(path) as f:
        if _is_modern(f):
            modern = True
        else:
            modern = False
            data = _collection_bytes(f)
    if modern:
        return _read_with_anki(path)
    contents = PackageContents()
    _read_collection(data, contents)
    return contents


def _open_regular(path: Path) -> IO[bytes]:
    """The file, open, when it is a regular file: a FIFO would block the read forever and a
    device (/dev/zero) would be read until memory runs out."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise PackageError("no such file") from None
    except OSError as e:
        raise PackageError(f"cannot read the package: {e.strerror or e}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise PackageError("is a folder, not an .apkg file")
        raise PackageError("not a regular file, so not an .apkg file")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


_TAGS = re.compile(r"<[^>]*>")


def note_label(field_names: tuple[str, ...], fields: tuple[str, ...], sort_field: int, guid: str) -> str:
    """How diff names a note of an old package: its factdeck ID field, else its sort field.

    Packages factdeck built have an `ID` field; others (an export from Anki, which `factdeck
    import` turned into deck files) are named by their sort field's text and GUID.
    """
    if "ID" in field_names and fields[field_names.index("ID")]:
        return fields[field_names.index("ID")]
    text = fields[sort_field] if 0 <= sort_field < len(fields) else ""
    text = " ".join(html.unescape(_TAGS.sub(" ", text)).split())
    text = text[:40] + "…" if len(text) > 40 else text
    return f"{text} (guid {guid})" if text else f"(guid {guid})"


def _is_modern(f: IO[bytes]) -> bool:
    try:
        with zipfile.ZipFile(f) as zf:
            return "collection.anki21b" in zf.namelist()
    except (OSError, EOFError, zipfile.BadZipFile, RuntimeError, ValueError, NotImplementedError):
        return False  # _collection_bytes reports why


def _read_with_anki(path: Path) -> PackageContents:
    from . import collection

    if not collection.anki_available():
        raise PackageError(
            "this package uses Anki's newer format (collection.anki21b), which factdeck reads "
            f"with Anki's own library: {collection.INSTALL_HINT}"
        )
    contents = PackageContents()
    with collection.read_package(path) as package:
        deck_ids: dict[str, int] = {}
        for note in package.notes:
            notetype = package.notetypes.get(note.notetype)
            if notetype is None or len(notetype.fields) != len(note.fields):
                raise PackageError(
                    f"not a readable Anki collection: note {note.id} uses note type {note.notetype}, "
                    + (
                        "which it does not have"
                        if notetype is None
                        else "whose fields do not match the note's"
                    )
                )
            deck = note.cards[0].deck if note.cards else "Default"
            did = deck_ids.setdefault(deck, -1 - len(deck_ids))  # ids are Anki's to reassign; names stay
            contents.decks.setdefault(did, deck)
            field_names = notetype.fields
            contents.notes.append(
                Snapshot(
                    note.guid,
                    did,
                    note_label(field_names, note.fields, notetype.sort_field, note.guid),
                    notetype.name,
                    field_names,
                    note.fields,
                    tuple(sorted(note.tags)),
                )
            )
    return contents


def _collection_bytes(source: Path | IO[bytes]) -> bytes:
    try:
        with zipfile.ZipFile(source) as zf:
            names = set(zf.namelist())
            # Packages from Anki 2.1.x put the real collection in .anki21 and a stub in .anki2.
            member = next((n for n in ("collection.anki21", "collection.anki2") if n in names), None)
            if member is None:
                if "collection.anki21b" in names:
                    raise PackageError(
                        "this package uses Anki's newer compressed format (collection.anki21b); "
                        "export it again with 'Support older Anki versions' ticked"
                    )
                raise PackageError("not an Anki package: it holds no collection.anki2")
            if zf.getinfo(member).file_size > MAX_COLLECTION:
                raise PackageError(
                    f"{member} is larger than {MAX_COLLECTION >> 20} MiB; refusing to unpack it"
                )
            with zf.open(member) as f:
                data = f.read(MAX_COLLECTION + 1)
            if len(data) > MAX_COLLECTION:
                raise PackageError(
                    f"{member} is larger than {MAX_COLLECTION >> 20} MiB; refusing to unpack it"
                )
            if len(data) < 100:  # smaller than SQLite's header: an empty or cut-off file
                raise PackageError(f"not a readable Anki collection ({member} is empty or cut short)")
            return data
    except zipfile.BadZipFile:
        raise PackageError("not an Anki package (not a zip file)") from None
    except (OSError, EOFError, zlib.error, RuntimeError, NotImplementedError, ValueError) as e:
        raise PackageError(f"cannot read the package: {getattr(e, 'strerror', None) or e}") from None


def _read_collection(data: bytes, side: PackageContents) -> None:
    db = sqlite3.connect(":memory:")
    try:
        db.deserialize(data)
        db.execute("PRAGMA trusted_schema = OFF")
        db.execute("PRAGMA query_only = ON")
        kinds = dict(
            db.execute("SELECT name, type FROM sqlite_master WHERE name IN ('col', 'notes', 'cards')")
        )
        missing = [t for t in ("col", "notes", "cards") if kinds.get(t) != "table"]
        if missing:
            raise PackageError(f"not an Anki collection: no `{missing[0]}` table")
        row = db.execute("SELECT models, decks FROM col LIMIT 1").fetchone()
        if row is None:
            raise PackageError("not a readable Anki collection: its `col` table has no row (no note types)")
        models = _json_object(row[0], "note types")
        decks = _json_object(row[1], "decks")
        deck_of: dict[int, int] = {}
        for nid, did in db.execute("SELECT nid, did FROM cards ORDER BY nid, ord"):
            deck_of.setdefault(nid, did)
        for nid, guid, mid, flds, tags in db.execute(
            "SELECT id, guid, mid, flds, tags FROM notes ORDER BY id"
        ):
            if not isinstance(guid, str) or not isinstance(flds, str):
                raise PackageError("not an Anki collection: a note has no text fields")
            fields = tuple(flds.split("\x1f"))
            model = models.get(str(mid))
            name, field_names = _notetype(model, mid, nid, len(fields))
            sortf = model.get("sortf") if isinstance(model, dict) else 0
            note_id = note_label(field_names, fields, sortf if isinstance(sortf, int) else 0, guid)
            did = deck_of.get(nid, 0)
            side.notes.append(
                Snapshot(
                    guid, did, note_id, name, field_names, fields, tuple(sorted(str(tags or "").split()))
                )
            )
            if did not in side.decks:
                deck = decks.get(str(did))
                side.decks[did] = str(deck.get("name", did)) if isinstance(deck, dict) else f"deck {did}"
    except (sqlite3.Error, MemoryError) as e:
        raise PackageError(f"not a readable Anki collection ({e or type(e).__name__})") from None
    finally:
        db.close()


def _notetype(model: object, mid: object, nid: object, count: int) -> tuple[str, tuple[str, ...]]:
    """The name and field names of a note's note type. The diff compares notes by them, so a
    note type that is missing or is not one makes the package unreadable: guessing would report
    every note as changed."""
    where = f"note {nid} uses note type {mid}"
    if not isinstance(model, dict):
        raise PackageError(f"not a readable Anki collection: {where}, which it does not have")
    name, declared = model.get("name"), model.get("flds")
    if not isinstance(name, str) or not isinstance(declared, list):
        raise PackageError(f"not a readable Anki collection: {where}, which has no name or fields")
    names = tuple(f.get("name") if isinstance(f, dict) else None for f in declared)
    if not all(isinstance(n, str) for n in names):
        raise PackageError(f"not a readable Anki collection: {where}, whose fields have no names")
    if len(names) != count:
        raise PackageError(
            f"not a readable Anki collection: {where}, which has {len(names)} fields, but the note {count}"
        )
    return name, cast("tuple[str, ...]", names)


def _json_object(value: object, what: str) -> dict[str, Any]:
    """A JSON object from the col table; anything else there means the collection is damaged."""
    try:
        parsed = json.loads(value) if isinstance(value, (str, bytes)) else None
    except RecursionError:
        raise PackageError(f"not a readable Anki collection: its {what} are nested too deeply") from None
    except ValueError:
        raise PackageError(f"not a readable Anki collection: its {what} are not valid JSON") from None
    return parsed if isinstance(parsed, dict) else {}
