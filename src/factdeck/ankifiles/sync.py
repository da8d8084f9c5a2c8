"""Reading and writing a learner's collection for `factdeck sync`, with Anki's own library.

Every change goes through Anki's API (note type update, note update, package import, tags,
suspend), never raw SQL, so Anki keeps its own invariants: card generation, sync markers,
the schema-change flag that makes the next AnkiWeb sync a full one.

A file is checked before Anki opens it: Anki would turn any SQLite file (or a missing path)
into a new, empty collection, and a collection Anki itself has open is locked.
"""

from __future__ import annotations

import errno
import itertools
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .. import merge
from ..output import private_workdir, recover
from ..sync import (
    STATE_KEY,
    Collection,
    NotetypeChange,
    Plan,
    Release,
    TheirNote,
    TheirNotetype,
    read_state,
    state_value,
)
from .collection import INSTALL_HINT, anki_available

OPEN_BY_ANKI = (
    "Anki has this collection open (it keeps it locked while it runs); close Anki, or switch "
    "to another profile, and run sync again. Nothing was changed."
)


class SyncError(Exception):
    """Sync cannot go on; the message says why and what to do. Nothing was changed."""


def require_anki() -> None:
    if not anki_available():
        raise SyncError(
            f"factdeck sync writes with Anki's own library, which is not installed: {INSTALL_HINT}"
        )


def open_collection(path: Path) -> Any:
    """The collection at ``path``, opened by Anki; SyncError when it is no collection or in use."""
    require_anki()
    _check_file(path)
    from anki.collection import Collection as AnkiCollection

    try:
        return AnkiCollection(str(path))
    except Exception as e:
        message = str(e).strip()
        if "already open" in message:
            raise SyncError(OPEN_BY_ANKI) from None
        raise SyncError(f"Anki cannot open this collection: {message or type(e).__name__}") from None


def _check_file(path: Path) -> None:
    if not path.exists():
        raise SyncError("no such file (the collection is collection.anki2 in the Anki profile's folder)")
    if path.is_dir():
        if (path / "collection.anki2").is_file():
            raise SyncError(f"is a folder; give the collection file: {path / 'collection.anki2'}")
        raise SyncError("is a folder, not an Anki collection")
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        db = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as e:
        raise SyncError(f"cannot read it: {e}") from None
    try:
        kinds = dict(
            db.execute(
                "SELECT name, type FROM sqlite_master WHERE name IN ('col', 'notes', 'cards', 'revlog')"
            )
        )
    except sqlite3.OperationalError as e:
        if "locked" in str(e):
            raise SyncError(OPEN_BY_ANKI) from None
        raise SyncError(f"not an Anki collection ({e})") from None
    except sqlite3.DatabaseError as e:
        raise SyncError(f"not an Anki collection ({e})") from None
    finally:
        db.close()
    missing = [t for t in ("col", "notes", "cards", "revlog") if kinds.get(t) != "table"]
    if missing:
        raise SyncError(f"not an Anki collection (no `{missing[0]}` table)")


def snapshot(col: Any, path: Path, release: Release) -> Collection:
    """The notes and note types that concern the release, as plain data."""
    state = Collection(path)
    shipped = {n.guid for n in release.notes}
    names: dict[int, tuple[str, ...]] = {}
    for model in col.models.all():
        names[model["id"]] = tuple(f["name"] for f in model["flds"])
        if model["id"] in release.notetypes:
            state.notetypes[model["id"]] = TheirNotetype(
                model["id"],
                model["name"],
                names[model["id"]],
                tuple((t["name"], t["qfmt"], t["afmt"]) for t in model["tmpls"]),
                model.get("css", ""),
                model.get("type") == 1,
            )
    suspended = {nid for (nid,) in col.db.all("SELECT nid FROM cards GROUP BY nid HAVING min(queue) = -1")}
    for nid, guid, mid, flds, tags in col.db.all("SELECT id, guid, mid, flds, tags FROM notes"):
        if guid not in shipped and mid not in release.notetypes:
            continue
        values = flds.split("\x1f")
        field_names = names.get(mid, ())
        state.notes[guid] = TheirNote(
            nid, guid, mid, dict(zip(field_names, values)), tuple(tags.split()), nid in suspended
        )
    state.media = {name for name in release.media if col.media.have(name)}
    state.seen, state.explicit = read_state(col.get_config(STATE_KEY, None))
    return state


def backup(col: Any, path: Path) -> Path:
    """A backup with Anki's own mechanism, in the profile's backups folder (File > Switch Profile >
    Open Backup restores it), complete and on disk before this returns; the path of the new file.

    Anki names a backup by the second and replaces a file of that name, so two syncs in one
    second would leave one backup: Anki writes it into a working folder of its own, and it is
    then linked into the backups folder under Anki's name, or that name with `-2`, `-3`... when
    the name is taken, never over another file. (Anki also thins the folder it backs up into;
    here that folder holds only the new backup, so no backup of the learner's is removed.)
    """
    folder = path.parent / "backups"
    try:
        folder.mkdir(exist_ok=True)
        recover([folder])  # a killed sync's working folder
        with private_workdir(folder, "backup") as work:
            made = col.create_backup(backup_folder=work, force=True, wait_for_completion=True)
            written = sorted(e.name for e in os.scandir(work) if e.name.endswith(".colpkg"))
            if not made or len(written) != 1:
                raise SyncError(f"Anki made no backup in {folder}; nothing was changed")
            return _publish(os.path.join(work, written[0]), folder)
    except SyncError:
        raise
    except Exception as e:
        raise SyncError(f"cannot back up the collection into {folder}: {e}; nothing was changed") from None


def _publish(made: str, folder: Path) -> Path:
    """Put the finished file ``made`` into ``folder`` under its own name, or that name with a
    number, never replacing a file; synced to disk, file and folder."""
    with open(made, "rb") as f:
        os.fsync(f.fileno())
    stem, suffix = os.path.splitext(os.path.basename(made))
    for n in itertools.count(1):
        target = folder / (f"{stem}{suffix}" if n == 1 else f"{stem}-{n}{suffix}")
        try:
            os.link(made, target)
        except FileExistsError:
            continue
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                raise
            try:  # a file system without hard links: a new file, written in full
                with open(made, "rb") as src, open(target, "xb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                    dst.flush()
                    os.fsync(dst.fileno())
            except FileExistsError:
                continue
        break
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a folder; the file itself is
    finally:
        os.close(fd)
    return target


class PartlyWritten(SyncError):
    """Anki failed part-way through writing; the steps before it are in the collection."""


def apply(col: Any, plan: Plan) -> None:
    """Write the plan: note types first (notes need their new fields), then notes, new notes,
    removed notes, and what the next sync must remember. Raises PartlyWritten."""
    from anki.errors import AnkiException

    try:
        _apply(col, plan)
    except (AnkiException, OSError) as e:
        raise PartlyWritten(f"Anki failed while writing ({str(e).strip() or type(e).__name__})") from None


def _apply(col: Any, plan: Plan) -> None:
    if plan.interim_seen:
        col.set_config(STATE_KEY, state_value(plan.interim_seen, plan.collection.explicit))
    for notetype in plan.notetypes:
        _update_notetype(col, notetype)
    for name in plan.media:
        if not col.media.have(name):
            col.media.write_data(name, plan.release.media[name].read_bytes())
    notes = []
    for change in plan.changes:
        note = col.get_note(change.nid)
        for name, value in change.fields.items():
            note[name] = value
        if change.tags is not None:
            note.tags = list(change.tags)
        notes.append(note)
    if notes:
        col.update_notes(notes)
    if plan.added:
        _import_new_notes(col, plan.release.package())
    removed = [nid for _, nid in plan.removed_changes]
    if removed and plan.removal == "delete":
        col.remove_notes(removed)
    elif removed:
        col.tags.bulk_add(removed, merge.REMOVED_TAG)
        if plan.removal == "suspend":
            col.sched.suspend_notes(removed)
    if plan.state_changes or plan.interim_seen:
        col.set_config(STATE_KEY, state_value(plan.seen, plan.explicit))


def _update_notetype(col: Any, change: NotetypeChange) -> None:
    """Anki's own in-place note type update: fields and card types added, the release's order,
    templates and CSS; no note is copied and no "NAME+" note type made."""
    model = col.models.get(change.id)
    for name in change.added_fields:
        col.models.add_field(model, col.models.new_field(name))
    for index, name in enumerate(change.fields):
        current = next(f for f in model["flds"] if f["name"] == name)
        if model["flds"].index(current) != index:
            col.models.reposition_field(model, current, index)
    for index, (name, front, back) in enumerate(change.templates):
        existing = index < len(model["tmpls"])
        template = model["tmpls"][index] if existing else col.models.new_template(name)
        template["name"], template["qfmt"], template["afmt"] = name, front, back
        if not existing:
            col.models.add_template(model, template)
    model["css"] = change.css
    col.models.update_dict(model)


def _import_new_notes(col: Any, package: Path) -> None:
    """Anki's importer adds the notes the collection lacks, with their cards in the release's
    decks and their media; it updates nothing (update conditions: never), and merges note
    types rather than making "NAME+" ones when a learner's note type has fields of its own."""
    from anki import import_export_pb2 as pb
    from anki.collection import ImportAnkiPackageOptions, ImportAnkiPackageRequest

    options = ImportAnkiPackageOptions(
        merge_notetypes=True,
        update_notes=pb.IMPORT_ANKI_PACKAGE_UPDATE_CONDITION_NEVER,
        update_notetypes=pb.IMPORT_ANKI_PACKAGE_UPDATE_CONDITION_NEVER,
        with_scheduling=False,
        with_deck_configs=False,
    )
    col.import_anki_package(ImportAnkiPackageRequest(package_path=str(package.resolve()), options=options))
