"""A package factdeck built, read as `factdeck sync`'s source.

The notes, note types and media are read by Anki itself (collection.read_package); the
history factdeck keeps beside them (package.py's factdeck_meta and factdeck_history tables,
which Anki's importer does not copy) is read from the package's collection file as plain SQLite,
query-only with an untrusted schema. A package from before histories still works: each of its
notes counts as shipped once, in a version nobody recorded.
"""

from __future__ import annotations

import functools
import json
import shutil
import sqlite3
from pathlib import Path

from .. import history as histories
from ..notetypes import BY_KEY
from ..sync import Release, ShippedNote, ShippedNotetype
from . import collection
from .package import HISTORY_FORMAT
from .read import PackageError, _collection_bytes

_BUILT_IN_IDS = {nt.id for nt in BY_KEY.values()}


def read_release(path: Path, tmp: Path) -> Release:
    """The package's notes with their histories; media files are copied into ``tmp``.

    Raises PackageError for a file that is not a package factdeck built, or whose history is
    damaged (a damaged history could make sync overwrite a learner's edits, so it is refused).
    """
    meta, rows = _factdeck_tables(path)
    release = Release(str(path), lambda: path, with_history=meta is not None)
    id_fields: dict[str, str] = {}
    if meta is not None:
        if meta.get("format") != HISTORY_FORMAT:
            raise PackageError(
                "this package was made by a newer factdeck (history format "
                f"{meta.get('format')!r}); upgrade factdeck to sync from it"
            )
        decks = _json_map(meta.get("decks", "{}"), "decks")
        id_fields = _json_map(meta.get("id_fields", "{}"), "id_fields")
        release.deck_ids = {int(k): v for k, v in decks.items() if k.lstrip("-").isdigit()}
        release.explicit = _explicit(meta.get("explicit_guids", "{}"))
    media_dir = tmp / "media"
    media_dir.mkdir(parents=True, exist_ok=True)
    with collection.read_package(path) as contents:
        for nt in contents.notetypes.values():
            id_field = id_fields.get(str(nt.id))
            if meta is None and nt.id in _BUILT_IN_IDS and "ID" in nt.fields:
                id_field = "ID"
            release.notetypes[nt.id] = ShippedNotetype(
                nt.id,
                nt.name,
                nt.fields,
                tuple((t.name, t.front, t.back) for t in nt.templates),
                nt.css,
                nt.cloze,
                id_field if id_field in nt.fields else None,
            )
        if meta is None and not set(release.notetypes) & _BUILT_IN_IDS:
            raise PackageError("not a package factdeck built (it has none of factdeck's note types)")
        for note in contents.notes:
            nt_ = release.notetypes.get(note.notetype)
            if nt_ is None or len(nt_.fields) != len(note.fields):
                raise PackageError("a note in the package does not match its note type")
            fields = dict(zip(nt_.fields, note.fields))
            row = rows.get(note.guid)
            if row is not None:
                try:
                    history = histories.from_package_json(row, fields, note.tags)
                except ValueError as e:
                    raise PackageError(f"the package's factdeck history is damaged ({e})") from None
                load = functools.partial(_given, history)
            else:
                load = functools.partial(histories.current, fields, note.tags, meta is None)
            note_id = fields.get(nt_.id_field or "", "") or note.guid
            release.notes.append(
                ShippedNote(
                    note.guid,
                    note_id,
                    note.notetype,
                    fields,
                    note.tags,
                    load,
                    simple=row is None and meta is not None,
                )
            )
        for name, source in contents.media.items():
            target = media_dir / Path(name).name
            shutil.copyfile(source, target)
            release.media[name] = target
    return release


def _factdeck_tables(path: Path) -> tuple[dict[str, str] | None, dict[str, str]]:
    """(factdeck_meta as a dict or None when absent, factdeck_history by GUID)."""
    try:
        data = _collection_bytes(path)
    except PackageError:
        return None, {}  # a modern package: Anki reads it (or says why not) below; it has no history
    db = sqlite3.connect(":memory:")
    try:
        db.deserialize(data)
        db.execute("PRAGMA trusted_schema = OFF")
        db.execute("PRAGMA query_only = ON")
        kinds = dict(
            db.execute(
                "SELECT name, type FROM sqlite_master WHERE name IN ('factdeck_meta', 'factdeck_history')"
            )
        )
        if not kinds:
            return None, {}
        if kinds.get("factdeck_meta") != "table" or kinds.get("factdeck_history") != "table":
            raise PackageError("the package's factdeck history is damaged (a table is missing)")
        meta: dict[str, str] = {}
        for key, value in db.execute("SELECT key, value FROM factdeck_meta"):
            if not isinstance(key, str) or not isinstance(value, str):
                raise PackageError("the package's factdeck history is damaged (factdeck_meta)")
            meta[key] = value
        rows: dict[str, str] = {}
        for guid, value in db.execute("SELECT guid, history FROM factdeck_history"):
            if not isinstance(guid, str) or not isinstance(value, str):
                raise PackageError("the package's factdeck history is damaged (factdeck_history)")
            rows[guid] = value
        return meta, rows
    except sqlite3.Error as e:
        raise PackageError(f"the package's factdeck history is damaged ({e})") from None
    finally:
        db.close()


def _json_map(text: str, what: str) -> dict[str, str]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        value = None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise PackageError(f"the package's factdeck history is damaged ({what})")
    return value


def _explicit(text: str) -> dict[str, set[str]]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        value = None
    if not isinstance(value, dict) or not all(
        isinstance(v, list) and all(isinstance(g, str) for g in v) for v in value.values()
    ):
        raise PackageError("the package's factdeck history is damaged (explicit_guids)")
    return {deck: set(guids) for deck, guids in value.items()}


def _given(history: histories.NoteHistory) -> histories.NoteHistory:
    return history
