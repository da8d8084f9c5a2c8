"""`factdeck diff`: which notes a rebuild adds, changes and removes, by note id.

The old side is a package (an .apkg built earlier) or the deck files at a git revision; the
new side is the current build. Notes are matched by GUID, which factdeck derives from
(deck id, note id) alone, so comparing GUIDs is comparing (deck id, note id). Anki's import
never deletes notes, so the removed ones are what users must delete by hand.

Reading a package never runs anything from it: the collection is copied out of the zip (with
a size cap) into an in-memory SQLite database opened query-only with an untrusted schema, and
only plain tables are read. Reading a revision runs only ``git rev-parse``, ``git ls-tree``
and ``git show``.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import build as pipeline
from .ankifiles import read as package_reader
from .ankifiles.read import Snapshot
from .assemble import BuiltDeck
from .diagnostics import Diagnostic
from .output import private_workdir
from .render import IMAGE_TYPES
from .terminal import printable

ID_FIELD = "ID"


@dataclass
class DeckDiff:
    deck: int  # Anki deck id
    id: str | None  # factdeck deck id; None for a deck known only by name from an old package
    name: str
    current: bool  # False: the deck is only on the old side
    added: list[str] = field(default_factory=list)
    changed: list[tuple[str, list[str]]] = field(default_factory=list)  # (note id, what changed)
    removed: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "current": self.current,
            "added": self.added,
            "changed": [{"id": note_id, "fields": what} for note_id, what in self.changed],
            "removed": self.removed,
        }


@dataclass
class Side:
    notes: list[Snapshot] = field(default_factory=list)
    decks: dict[int, tuple[str | None, str]] = field(default_factory=dict)  # Anki id -> (deck id, name)
    diagnostics: list[Diagnostic] = field(default_factory=list)


class BadRevision(Exception):
    """The --rev value names no commit: a usage error."""


def built_side(decks: list[BuiltDeck]) -> Side:
    side = Side()
    for built in decks:
        side.decks[built.anki_id] = (built.deck.id, built.deck.name)
        for note in built.notes:
            side.notes.append(
                Snapshot(
                    note.guid,
                    built.anki_id,
                    note.id,
                    note.notetype.name,
                    note.notetype.field_names,
                    tuple(note.fields),
                    tuple(sorted(note.tags)),
                )
            )
    return side


# --- the old side from a package ---------------------------------------------------------------


def read_package(path: Path) -> Side:
    """The notes of an .apkg; a file that is not a readable package gives one error, never a crash."""
    side = Side()
    try:
        contents = package_reader.read_package(path)
    except package_reader.PackageError as e:
        side.diagnostics.append(Diagnostic(str(path), 0, 0, "package", printable(str(e))))
        return side
    side.notes = contents.notes
    side.decks = {did: (None, name) for did, name in contents.decks.items()}
    return side


# --- the old side from a git revision ------------------------------------------------------------


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    assert args[0] in ("rev-parse", "ls-tree", "show")  # read-only commands only
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)


def read_revision(rev: str, paths: list[str], workdir: Path | None = None) -> Side:
    """Build the deck files that ``paths`` named at revision ``rev``, without touching the work tree.

    A path missing at that revision contributes nothing (its notes count as added). Raises
    BadRevision when ``rev`` names no commit.
    """
    workdir = Path(workdir or os.getcwd())
    side = Side()
    if rev.startswith("-"):
        raise BadRevision(f"`{rev}` is not a revision")
    try:
        top = _git(["rev-parse", "--show-toplevel"], workdir)
    except OSError as e:
        side.diagnostics.append(Diagnostic("git", 0, 0, "git", f"cannot run git: {e.strerror or e}"))
        return side
    if top.returncode != 0:
        side.diagnostics.append(
            Diagnostic(str(workdir), 0, 0, "git", "not inside a git repository (--rev needs one)")
        )
        return side
    root = Path(os.fsdecode(top.stdout.rstrip(b"\n")))
    commit = _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], root)
    if commit.returncode != 0:
        raise BadRevision(f"`{rev}` names no commit in this repository")
    commit_id = commit.stdout.decode().strip()

    decks: list[str] = []  # repository-relative, in discovery order
    images: dict[str, str] = {}  # repository-relative path -> blob id
    blobs: dict[str, str] = {}
    listed: dict[str, list[tuple[str, str]]] = {}

    def ls(rel: str) -> list[tuple[str, str]]:
        if rel not in listed:
            out = _git(["ls-tree", "-r", "-z", commit_id, "--", rel], root)
            entries = []
            for item in out.stdout.split(b"\0") if out.returncode == 0 else []:
                if not item:
                    continue
                meta, _, name = item.partition(b"\t")
                mode, kind, blob = meta.decode().split(" ")
                if kind == "blob" and mode in ("100644", "100755"):
                    entries.append((os.fsdecode(name), blob))
            listed[rel] = entries
        return listed[rel]

    for raw in paths:
        full = os.path.realpath(os.path.join(workdir, raw))
        rel = os.path.relpath(full, os.path.realpath(root))
        if rel == os.pardir or rel.startswith(os.pardir + os.sep):
            side.diagnostics.append(Diagnostic(raw, 0, 0, "git", "is outside the git repository"))
            continue
        rel = Path(rel).as_posix()
        for name, blob in ls(rel):
            if name == rel:  # a file named directly is a deck whatever its suffix, as in `build`
                chosen = True
            else:
                inner = Path(name).relative_to(rel) if rel != "." else Path(name)
                chosen = inner.suffix in pipeline.DECK_SUFFIXES and not any(
                    p.startswith(".") for p in inner.parts
                )
            if chosen and name not in blobs:
                decks.append(name)
                blobs[name] = blob
    for name in decks:  # images resolve against the deck file's folder, so only those can be used
        folder = Path(name).parent.as_posix()
        for image, blob in ls(folder):
            if Path(image).suffix.lower() in IMAGE_TYPES:
                images[image] = blob
    # note-type files a deck includes, and their css-files, may be anywhere in the repository
    for name, blob in ls(".") if decks else []:
        if Path(name).suffix.lower() in (*pipeline.DECK_SUFFIXES, ".css") and name not in blobs:
            images[name] = blob

    with private_workdir(purpose="diff") as tmp:  # a killed diff's is removed by `recover`
        tmp_root = Path(tmp)
        for name, blob in [(n, blobs[n]) for n in decks] + list(images.items()):
            target = tmp_root / name
            if os.path.commonpath([os.path.abspath(target), tmp]) != tmp:
                continue  # git forbids `..` in trees; never write outside the folder anyway
            shown = _git(["show", "--no-textconv", blob], root)
            if shown.returncode != 0:
                side.diagnostics.append(
                    Diagnostic(
                        f"{rev}:{name}",
                        0,
                        0,
                        "git",
                        f"cannot read it at {rev}: {shown.stderr.decode(errors='replace').strip()}",
                    )
                )
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(shown.stdout)
        if not decks:
            return side
        checked = pipeline.check([str(tmp_root / name) for name in decks if (tmp_root / name).exists()])
        prefix = str(tmp_root) + os.sep
        for d in checked.diagnostics:
            path = d.path[len(prefix) :] if d.path.startswith(prefix) else d.path
            side.diagnostics.append(
                replace(d, path=f"{rev}:{Path(path).as_posix()}", message=d.message.replace(prefix, ""))
            )
        built = built_side(checked.decks)
    side.notes, side.decks = built.notes, built.decks
    return side


# --- comparing ---------------------------------------------------------------------------------


def what_changed(old: Snapshot, new: Snapshot) -> list[str]:
    """The names of what differs between two versions of one note: fields, then `tags`."""
    what = []
    if old.notetype != new.notetype:
        what.append("note type")
    if old.field_names == new.field_names or len(old.fields) == len(new.fields):
        for name, a, b in zip(new.field_names, old.fields, new.fields):
            if a != b:
                what.append(name)
    else:
        before = dict(zip(old.field_names, old.fields))
        for name, value in zip(new.field_names, new.fields):
            if before.get(name) != value:
                what.append(name)
    if old.tags != new.tags:
        what.append("tags")
    return what


def compare(old: Side, new: Side) -> list[DeckDiff]:
    """Per deck: current decks in build order, then decks only the old side has."""
    diffs: dict[int, DeckDiff] = {
        did: DeckDiff(did, deck_id, name, True) for did, (deck_id, name) in new.decks.items()
    }
    before: dict[str, Snapshot] = {}
    for note in old.notes:
        before.setdefault(note.guid, note)
    current = {note.guid for note in new.notes}
    for note in new.notes:
        prev = before.get(note.guid)
        if prev is None:
            diffs[note.deck].added.append(note.id)
        else:
            what = what_changed(prev, note)
            if what:
                diffs[note.deck].changed.append((note.id, what))
    by_name = {d.name: did for did, d in diffs.items()}
    for guid, note in before.items():
        if guid in current:
            continue
        if note.deck not in diffs:
            # a package read by Anki gives its decks new ids: match the deck by name, a
            # subdeck (`Deck::Sub`) by the deck file it belongs to
            name = old.decks.get(note.deck, (None, ""))[1]
            home = next((by_name[p] for p in _name_prefixes(name) if p in by_name), None)
            if home is not None:
                diffs[home].removed.append(note.id)
                continue
        if note.deck not in diffs:
            deck_id, name = old.decks.get(note.deck, (None, f"deck {note.deck}"))
            diffs[note.deck] = DeckDiff(note.deck, deck_id, name, False)
        diffs[note.deck].removed.append(note.id)
    for d in diffs.values():
        d.removed.sort()
    return list(diffs.values())


def _name_prefixes(name: str) -> list[str]:
    """`A::B::C` -> [`A::B::C`, `A::B`, `A`]: the deck and its parents, nearest first."""
    parts = name.split("::")
    return ["::".join(parts[:n]) for n in range(len(parts), 0, -1)]


def totals(diffs: list[DeckDiff]) -> dict[str, int]:
    return {
        "added": sum(len(d.added) for d in diffs),
        "changed": sum(len(d.changed) for d in diffs),
        "removed": sum(len(d.removed) for d in diffs),
    }


def as_json(diffs: list[DeckDiff], old: str) -> dict[str, object]:
    return {"old": old, "decks": [d.as_json() for d in diffs], "total": totals(diffs)}


def format_text(diffs: list[DeckDiff]) -> str:
    """The diff for a terminal; text from the old side is escaped (see ``terminal``)."""
    blocks = []
    for d in diffs:
        title = printable(f"{d.id}: {d.name}" if d.id else d.name)
        lines = [title if d.current else f"{title} (deck not in this build)"]
        lines += [f"+ {printable(note_id)}" for note_id in d.added]
        lines += [f"~ {printable(note_id)} ({printable(', '.join(what))})" for note_id, what in d.changed]
        lines += [f"- {printable(note_id)}" for note_id in d.removed]
        lines.append(f"{len(d.added)} added, {len(d.changed)} changed, {len(d.removed)} removed")
        blocks.append("\n".join(lines))
    if any(d.removed for d in diffs):
        blocks.append(
            "Anki's import never deletes notes: users delete removed ones themselves "
            "(in the browser, search ID:<note id>)."
        )
    return "\n\n".join(blocks) if blocks else "no decks"
