"""`factdeck sync`: bring a learner's Anki collection up to a release, field by field.

The release (deck files built in memory, or a package factdeck built) and the collection are
both read into plain data here; ``plan`` decides everything with the pure merge of merge.py;
ankifiles/sync.py then writes the plan with Anki's own library. A dry run stops after the plan.

What sync never does: touch scheduling or review history, delete anything unasked, remove a
field or a card template from a note type (that would delete the learner's text or cards).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from . import merge
from .assemble import note_guid
from .diagnostics import Diagnostic
from .history import NoteHistory, field_hash, only_current
from .lock import Lock
from .notetypes import ID_KEY
from .terminal import json_printable, printable

Removal = Literal["tag", "suspend", "delete"]
STATE_KEY = "factdeck-sync"  # the collection config entry that remembers what sync wrote


# --- the release: what the maintainer ships ----------------------------------------------------


@dataclass(frozen=True)
class ShippedNotetype:
    id: int
    name: str
    fields: tuple[str, ...]
    templates: tuple[tuple[str, str, str], ...]  # (name, front, back)
    css: str
    cloze: bool
    id_field: str | None  # the field holding the factdeck note id, if the type has one


@dataclass
class ShippedNote:
    guid: str
    id: str  # factdeck note id, for the report
    notetype: int
    fields: dict[str, str]  # in the note type's order
    tags: tuple[str, ...]
    load_history: Callable[[], NoteHistory] = field(repr=False, compare=False)
    simple: bool = False  # shipped in this version only: a note equal to it needs no history

    @functools.cached_property
    def history(self) -> NoteHistory:
        """Read when the merge needs it (most notes of a large deck equal the collection's)."""
        return self.load_history()


@dataclass
class Release:
    """One or more decks as `factdeck build` would ship them."""

    source: str  # what the user named: deck files or a package
    # a package holding every note, for Anki's importer to add the new ones (made on first call)
    package: Callable[[], Path]
    notes: list[ShippedNote] = field(default_factory=list)
    notetypes: dict[int, ShippedNotetype] = field(default_factory=dict)
    deck_ids: dict[int, str] = field(default_factory=dict)  # Anki deck id -> factdeck deck id
    media: dict[str, Path] = field(default_factory=dict)  # file name -> file
    # factdeck deck id -> GUIDs of notes with a `guid:` of their own (not derived from the note
    # id), removed notes' included (the lock remembers them)
    explicit: dict[str, set[str]] = field(default_factory=dict)
    with_history: bool = True  # False: a package from before histories (every note shipped once)


# --- the collection: what the learner has ------------------------------------------------------


@dataclass(frozen=True)
class TheirNotetype:
    id: int
    name: str
    fields: tuple[str, ...]
    templates: tuple[tuple[str, str, str], ...]
    css: str
    cloze: bool


@dataclass(frozen=True)
class TheirNote:
    nid: int
    guid: str
    notetype: int
    fields: dict[str, str]
    tags: tuple[str, ...]
    suspended: bool = False  # every card of the note is suspended


@dataclass
class Collection:
    path: Path
    notes: dict[str, TheirNote] = field(default_factory=dict)  # by guid
    notetypes: dict[int, TheirNotetype] = field(default_factory=dict)
    seen: dict[str, dict[str, str]] = field(default_factory=dict)  # guid -> field -> hash (last sync)
    explicit: dict[str, set[str]] = field(default_factory=dict)  # deck id -> own-GUID notes synced
    media: set[str] = field(default_factory=set)  # the release's media files it already has


def read_state(value: object) -> tuple[dict[str, dict[str, str]], dict[str, set[str]]]:
    """What earlier syncs recorded in the collection's config; anything malformed counts as none.

    ``seen``: per note and field, the hash of the version last offered (for fields shipped in
    more than one version). ``explicit``: per deck, the notes with a GUID of their own that a
    sync has seen, so that their removal upstream is recognised (their GUID says nothing).
    """
    if not isinstance(value, dict):
        return {}, {}
    seen: dict[str, dict[str, str]] = {}
    raw_seen = value.get("seen")
    for guid, fields in (raw_seen if isinstance(raw_seen, dict) else {}).items():
        if isinstance(guid, str) and isinstance(fields, dict):
            good = {k: v for k, v in fields.items() if isinstance(k, str) and isinstance(v, str)}
            if good:
                seen[guid] = good
    explicit: dict[str, set[str]] = {}
    raw_explicit = value.get("explicit")
    for deck, guids in (raw_explicit if isinstance(raw_explicit, dict) else {}).items():
        if isinstance(deck, str) and isinstance(guids, list):
            good_guids = {g for g in guids if isinstance(g, str)}
            if good_guids:
                explicit[deck] = good_guids
    return seen, explicit


def state_value(seen: Mapping[str, Mapping[str, str]], explicit: Mapping[str, set[str]]) -> dict[str, object]:
    value: dict[str, object] = {
        "version": 1,
        "seen": {guid: dict(sorted(f.items())) for guid, f in sorted(seen.items()) if f},
    }
    if any(explicit.values()):
        value["explicit"] = {deck: sorted(guids) for deck, guids in sorted(explicit.items()) if guids}
    return value


# --- the plan ----------------------------------------------------------------------------------


@dataclass
class NotetypeChange:
    id: int
    name: str  # as the collection names it
    fields: tuple[str, ...]  # the field order after the change
    added_fields: list[str] = field(default_factory=list)
    kept_fields: list[str] = field(default_factory=list)  # no longer in the release; kept with their text
    templates: tuple[tuple[str, str, str], ...] = ()  # the templates after the change
    added_templates: list[str] = field(default_factory=list)
    kept_templates: list[str] = field(default_factory=list)
    restyled: bool = False  # template text or CSS
    css: str = ""
    reordered: bool = False

    @property
    def schema(self) -> bool:
        """Whether Anki counts this as a schema change (a one-way full sync with AnkiWeb follows)."""
        return bool(self.added_fields or self.added_templates or self.reordered)

    def describe(self) -> str:
        what = []
        if self.added_fields:
            what.append("gained " + ", ".join(f"field '{printable(f)}'" for f in self.added_fields))
        if self.added_templates:
            what.append("gained " + ", ".join(f"card '{printable(t)}'" for t in self.added_templates))
        if self.reordered:
            what.append("fields reordered")
        if self.restyled:
            what.append("restyled")
        if self.kept_fields:
            what.append(
                "kept your field"
                + "s" * (len(self.kept_fields) > 1)
                + " , ".join(f"'{printable(f)}'" for f in self.kept_fields)
                + " (no longer in the deck)"
            )
        return f"'{printable(self.name)}' {', '.join(what)}"


@dataclass
class NoteChange:
    nid: int
    id: str
    fields: dict[str, str]  # name -> new value, only those that change
    tags: tuple[str, ...] | None  # None: unchanged


@dataclass
class Conflict:
    id: str
    nid: int
    field: str
    theirs: str
    ours: str
    resolution: Literal["kept yours, tagged", "kept yours", "took the new text"]


@dataclass
class Plan:
    collection: Collection
    release: Release
    removal: Removal
    notetypes: list[NotetypeChange] = field(default_factory=list)
    changes: list[NoteChange] = field(default_factory=list)
    added: list[ShippedNote] = field(default_factory=list)
    added_notetypes: list[str] = field(default_factory=list)
    updated: list[tuple[str, list[str]]] = field(default_factory=list)  # (note id, fields)
    kept: list[tuple[str, list[str]]] = field(
        default_factory=list
    )  # (note id, fields kept as the user has them)
    conflicts: list[Conflict] = field(default_factory=list)
    tagged: list[str] = field(default_factory=list)  # note ids whose tags change
    removed: list[tuple[str, int]] = field(default_factory=list)  # (note id, nid)
    removed_changes: list[tuple[str, int]] = field(default_factory=list)  # those the sync changes
    other_notetype: list[str] = field(default_factory=list)  # notes on a note type not the release's
    seen: dict[str, dict[str, str]] = field(default_factory=dict)
    explicit: dict[str, set[str]] = field(default_factory=dict)
    # written before the note types gain fields: their new, empty fields count as unedited, so
    # that a sync Anki stops part-way is finished by the next one
    interim_seen: dict[str, dict[str, str]] = field(default_factory=dict)
    media: list[str] = field(default_factory=list)  # files the updated fields and note types need

    @property
    def schema_change(self) -> bool:
        return any(nt.schema for nt in self.notetypes)

    @property
    def state_changes(self) -> bool:
        mine = {deck: guids for deck, guids in self.collection.explicit.items() if guids}
        return self.seen != self.collection.seen or {d: g for d, g in self.explicit.items() if g} != mine

    @property
    def writes(self) -> bool:
        """Whether anything in the collection would change."""
        return bool(
            self.notetypes
            or self.changes
            or self.added
            or self.removed_changes
            or self.state_changes
            or self.media
        )


def plan(
    release: Release,
    col: Collection,
    removal: Removal = "tag",
    prefer: merge.Prefer = None,
) -> Plan:
    """Everything a sync would do, decided without writing anything."""
    result = Plan(col, release, removal)
    for nt in release.notetypes.values():
        theirs = col.notetypes.get(nt.id)
        if theirs is None:
            if any(n.notetype == nt.id for n in release.notes if n.guid not in col.notes):
                result.added_notetypes.append(nt.name)
            continue
        change = notetype_change(nt, theirs)
        if change is not None:
            result.notetypes.append(change)
    gained = {c.id: c.added_fields for c in result.notetypes}
    if any(gained.values()):
        empty = field_hash("")
        result.interim_seen = {guid: dict(fields) for guid, fields in col.seen.items()}
        for have in col.notes.values():
            for name in gained.get(have.notetype, ()):
                result.interim_seen.setdefault(have.guid, {})[name] = empty
    media = _notetype_media(release, col)
    for note in release.notes:
        theirs_note = col.notes.get(note.guid)
        if theirs_note is None:
            result.added.append(note)
            continue
        if theirs_note.notetype != note.notetype:
            result.other_notetype.append(note.id)
        if note.simple and theirs_note.notetype not in gained and _equal(theirs_note, note):
            if note.guid in col.seen:
                result.seen[note.guid] = col.seen[note.guid]
            continue  # the note as shipped, no field with a history to remember: nothing to merge
        theirs_fields = theirs_note.fields
        merged = merge.merge_note(
            theirs_fields,
            note.fields,
            theirs_note.tags,
            note.tags,
            note.history,
            col.seen.get(note.guid),
            prefer,
            gained.get(theirs_note.notetype, ()),
        )
        if merged.seen:
            result.seen[note.guid] = merged.seen
        values = {f.name: f.value for f in merged.fields if f.changes}
        if values or merged.tags_changed:
            result.changes.append(
                NoteChange(theirs_note.nid, note.id, values, merged.tags if merged.tags_changed else None)
            )
        if merged.tags_changed:
            result.tagged.append(note.id)
        updated = [f.name for f in merged.fields if f.outcome == "updated"]
        kept = [f.name for f in merged.fields if f.outcome == "kept"]
        if updated:
            result.updated.append((note.id, updated))
        if kept:
            result.kept.append((note.id, kept))
        for f in merged.conflicts:
            resolution: Literal["kept yours, tagged", "kept yours", "took the new text"] = (
                "kept yours, tagged"
                if prefer is None
                else ("kept yours" if prefer == "theirs" else "took the new text")
            )
            result.conflicts.append(
                Conflict(note.id, theirs_note.nid, f.name, theirs_fields.get(f.name, ""), f.ours, resolution)
            )
        for value in values.values():
            media.update(name for name in release.media if name in value)
    result.media = sorted(media)
    shipped = {n.guid for n in release.notes}
    for guid, seen in col.seen.items():  # what syncs of other decks remembered stays
        if guid not in shipped:
            result.seen[guid] = seen
    _removed(release, col, result)
    return result


def _notetype_media(release: Release, col: Collection) -> set[str]:
    """The files the release's templates and CSS name that the collection lacks: updating a note
    type in place carries no media, and a file an earlier sync missed is still missing."""
    texts = [
        text
        for nt in release.notetypes.values()
        for text in (nt.css, *(side for _, front, back in nt.templates for side in (front, back)))
    ]
    return {name for name in release.media if name not in col.media and any(name in text for text in texts)}


def _equal(theirs: TheirNote, ours: ShippedNote) -> bool:
    """The collection's note holds exactly the shipped fields and at least the shipped tags."""
    if any(theirs.fields.get(name, text) != text for name, text in ours.fields.items()):
        return False
    have = {t.casefold() for t in theirs.tags}
    return merge.REMOVED_TAG not in have and all(t.casefold() in have for t in ours.tags)


def _removed(release: Release, col: Collection, result: Plan) -> None:
    """Notes of the release's decks that the release no longer has.

    A note counts as factdeck's only when its GUID is the one factdeck derives from one of
    the release's decks and the note's id field, or a GUID of its own that the release (its
    lock keeps removed notes' own GUIDs) or an earlier sync knows: the learner's own notes,
    even of factdeck's note types, are never touched.
    """
    shipped = {n.guid for n in release.notes}
    id_fields = {nt.id: nt.id_field for nt in release.notetypes.values()}
    decks = set(release.deck_ids.values())
    result.explicit = {deck: set(guids) for deck, guids in col.explicit.items() if deck not in decks}
    own: set[str] = set()
    for deck in decks:
        known = col.explicit.get(deck, set()) | release.explicit.get(deck, set())
        result.explicit[deck] = {g for g in known if g in col.notes or g in shipped}
        own |= known
    for note in col.notes.values():
        if note.guid in shipped or note.notetype not in id_fields:
            continue
        note_id = note.fields.get(id_fields[note.notetype] or "", "")
        derived = bool(note_id) and any(note_guid(deck, note_id) == note.guid for deck in decks)
        if not derived and note.guid not in own:
            continue
        note_id = note_id or note.guid
        result.removed.append((note_id, note.nid))
        tagged = any(t.casefold() == merge.REMOVED_TAG for t in note.tags)
        if result.removal == "delete" or not tagged or (result.removal == "suspend" and not note.suspended):
            result.removed_changes.append((note_id, note.nid))
    result.removed.sort()
    result.removed_changes.sort()


def notetype_change(ours: ShippedNotetype, theirs: TheirNotetype) -> NotetypeChange | None:
    """What updating the collection's note type in place to the release's takes; None: nothing.

    Fields and templates the release no longer has stay (with the learner's text and cards);
    the ones it gained are added, as Anki's own note type editor would.
    """
    if ours.cloze != theirs.cloze:
        return None  # Anki cannot turn a standard type into a cloze one in place; leave it
    added_fields = [f for f in ours.fields if f not in theirs.fields]
    kept_fields = [f for f in theirs.fields if f not in ours.fields]
    order = (*ours.fields, *kept_fields)
    reordered = [f for f in theirs.fields if f in ours.fields] != [
        f for f in ours.fields if f in theirs.fields
    ]
    templates = list(theirs.templates)
    added_templates = []
    for i, template in enumerate(ours.templates):
        if i < len(templates):
            templates[i] = template
        else:
            templates.append(template)
            added_templates.append(template[0])
    kept_templates = [t[0] for t in theirs.templates[len(ours.templates) :]]
    restyled = ours.css != theirs.css or any(
        i < len(theirs.templates) and theirs.templates[i] != template
        for i, template in enumerate(ours.templates)
    )
    if not (added_fields or added_templates or reordered or restyled):
        return None
    return NotetypeChange(
        theirs.id,
        theirs.name,
        order,
        added_fields,
        kept_fields if added_fields or reordered else [],
        tuple(templates),
        added_templates,
        kept_templates,
        restyled,
        ours.css,
        reordered,
    )


# --- the report --------------------------------------------------------------------------------


@dataclass
class Report:
    plan: Plan
    dry_run: bool
    backup: str | None = None
    backup_note: str = ""  # why there is no backup

    def counts(self) -> dict[str, int]:
        p = self.plan
        return {
            "added": len(p.added),
            "updated_fields": sum(len(f) for _, f in p.updated),
            "kept_user_edits": sum(len(f) for _, f in p.kept),
            "conflicts": len(p.conflicts),
            "removed": len(p.removed),
            "notetypes_changed": len(p.notetypes) + len(p.added_notetypes),
        }

    def as_json(self) -> dict[str, object]:
        p = self.plan
        return {
            "collection": str(p.collection.path),
            "source": p.release.source,
            "dry_run": self.dry_run,
            "changed": p.writes and not self.dry_run,
            "backup": self.backup,
            "counts": self.counts(),
            "added": [n.id for n in p.added],
            "updated": [{"id": i, "fields": f} for i, f in p.updated],
            "kept": [{"id": i, "fields": f} for i, f in p.kept],
            "conflicts": [
                {
                    "id": c.id,
                    "note_id": c.nid,
                    "field": c.field,
                    "yours": c.theirs,
                    "new": c.ours,
                    "resolution": c.resolution,
                }
                for c in p.conflicts
            ],
            "removed": [{"id": i, "note_id": nid} for i, nid in p.removed],
            "removed_action": p.removal,
            "tags_changed": p.tagged,
            "notetypes": [
                {
                    "name": c.name,
                    "added_fields": c.added_fields,
                    "added_templates": c.added_templates,
                    "kept_fields": c.kept_fields,
                    "restyled": c.restyled,
                    "reordered": c.reordered,
                }
                for c in p.notetypes
            ],
            "added_notetypes": p.added_notetypes,
            "full_sync_required": p.schema_change,
            "source_has_history": p.release.with_history,
            "other_notetype": p.other_notetype,
        }

    def json_text(self) -> str:
        return json_printable(json.dumps(self.as_json(), indent=2, ensure_ascii=False))

    def text(self) -> str:
        p, c = self.plan, self.counts()
        source, target = printable(p.release.source), printable(str(p.collection.path))
        if self.dry_run:
            lines = [f"dry run: would sync {source} into {target}"]
        elif p.writes:
            lines = [f"synced {source} into {target}"]
        else:
            lines = [f"compared {source} with {target}"]
        if self.backup:
            lines.append(f"backup: {printable(self.backup)}")
        elif self.backup_note:
            lines.append(f"backup: none ({self.backup_note})")
        removal = {
            "tag": f"tagged {merge.REMOVED_TAG}",
            "suspend": "tagged and suspended",
            "delete": "deleted",
        }
        removed_words = (
            removal[p.removal] if p.removed_changes or not p.removed else f"already {removal[p.removal]}"
        )
        rows = [
            ("added", c["added"], f"note{'s' * (c['added'] != 1)}", [n.id for n in p.added]),
            ("updated", c["updated_fields"], "fields", [f"{i} ({', '.join(f)})" for i, f in p.updated]),
            ("kept", c["kept_user_edits"], "of your edits", [f"{i} ({', '.join(f)})" for i, f in p.kept]),
            ("conflicts", c["conflicts"], _conflict_words(p), []),
            ("removed", c["removed"], f"({removed_words})", [i for i, _ in p.removed]),
            ("note types", c["notetypes_changed"], "changed", []),
        ]
        for label, count, unit, ids in rows:
            shown = f": {printable(_shorten(ids))}" if ids and count else ""
            lines.append(f"  {label:<11}{count:>5} {unit}{shown}")
        for change in p.notetypes:
            lines.append(f"    {change.describe()}")
        for name in p.added_notetypes:
            lines.append(f"    '{printable(name)}' added")
        if p.tagged:
            lines.append(f"  tags changed on {len(p.tagged)} note{'s' * (len(p.tagged) != 1)}")
        if p.other_notetype:
            lines.append(
                f"  {len(p.other_notetype)} note(s) use another note type in your collection; only "
                f"fields with the same name were merged: {printable(_shorten(p.other_notetype))}"
            )
        if not p.release.with_history:
            lines.append(
                "  this package was built before factdeck kept histories: every field that differs "
                "from it counts as a conflict, and notes it no longer has cannot be recognised"
            )
        if p.conflicts:
            lines.append("")
            lines.append("conflicts (you edited these fields, and so did the deck):")
            for conflict in p.conflicts:
                lines.append(
                    f"  {printable(conflict.id)} (note {conflict.nid}), {printable(conflict.field)}: "
                    f"{conflict.resolution}"
                )
                lines.append(f"    yours: {printable(_excerpt(conflict.theirs))}")
                lines.append(f"    new:   {printable(_excerpt(conflict.ours))}")
            if any(x.resolution == "kept yours, tagged" for x in p.conflicts):
                lines.append(
                    f"  find them in Anki's browser with tag:{merge.CONFLICT_TAG}; remove the tag when "
                    "done, or run sync again with --ours (take the new text) or --theirs (keep yours)"
                )
        if p.schema_change:
            lines.append("")
            lines.append(FULL_SYNC_WARNING)
        if not p.writes:
            lines.append("nothing to change: the collection is up to date")
        elif self.dry_run:
            lines.append("dry run: nothing was written")
        return "\n".join(lines)


FULL_SYNC_WARNING = (
    "A note type gained a field or a card type: Anki counts this as a schema change, so the next "
    "sync with AnkiWeb must be a one-way full upload of this collection. Sync your other devices "
    "first, or their unsynced reviews are lost."
)


def _conflict_words(p: Plan) -> str:
    if not p.conflicts:
        return ""
    return p.conflicts[0].resolution


def _shorten(ids: list[str], limit: int = 10) -> str:
    return ", ".join(ids[:limit]) + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def _excerpt(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# --- the release from deck files -------------------------------------------------------------


def release_from_decks(paths: list[str], tmp: Path) -> tuple[Release | None, list[Diagnostic]]:
    """Build the decks as `factdeck build` would, into a package in ``tmp``; the lock files are
    read, not written (a maintainer's sync ships nothing)."""
    from . import build as pipeline
    from . import lock as lockfile
    from .ankifiles import package
    from .diagnostics import Collector

    checked = pipeline.check(paths)
    diagnostics: list[Diagnostic] = list(checked.diagnostics)
    diagnostics.extend(pipeline._clashing_notetypes(checked.decks))  # one package holds every deck
    diagnostics.extend(pipeline.clashing_media(checked.decks))
    if any(d.severity == "error" for d in diagnostics):
        return None, diagnostics
    now = pipeline.build_time()
    parts: list[package.Part] = []
    written: list[Path] = []

    def write_package() -> Path:
        """Raises WriteFailed."""
        if not written:
            package.write(tmp / "release.apkg", parts)
            written.append(tmp / "release.apkg")
        return written[0]

    release = Release(", ".join(paths), write_package)
    for built in checked.decks:
        out = Collector(str(lockfile.lock_path(built.deck.path)))
        old, _ = lockfile.read(lockfile.lock_path(built.deck.path), out)
        diagnostics.extend(out.items)
        if out.items and any(d.severity == "error" for d in out.items):
            return None, diagnostics
        notetypes = {
            nt.key: (nt.name, nt.definition_hash(), nt.field_names) for nt in built.notetypes().values()
        }
        new, _ = lockfile.advance(old, {n.id: n.hash for n in built.notes}, notetypes, now)
        lockfile.advance_history(old, new, built.notes)
        lockfile.advance_guids(old, new, built.notes)
        if new.guids:  # removed notes' too: the learner may still have them
            release.explicit[built.deck.id] = set(new.guids)
        parts.append(package.Part(built, new))
        release.deck_ids[built.anki_id] = built.deck.id
        for nt in built.notetypes().values():
            id_field = next((f.name for f in nt.fields if f.key in ("id", ID_KEY)), None)
            release.notetypes[nt.id] = ShippedNotetype(
                nt.id, nt.name, nt.field_names, nt.templates, nt.css, nt.cloze, id_field
            )
        for note in built.notes:
            token = new.history.get(note.id, "")
            release.notes.append(
                ShippedNote(
                    note.guid,
                    note.id,
                    note.notetype.id,
                    dict(zip(note.notetype.field_names, note.fields)),
                    tuple(note.tags),
                    functools.partial(_lock_history, new, note.id),
                    note.id in new.fresh or only_current(token, note.tags),
                )
            )
        release.media.update({name: Path(path) for name, path in built.media.items()})
    return release, diagnostics


def _lock_history(lock: Lock, note_id: str) -> NoteHistory:
    return lock.note_history(note_id) or NoteHistory(unknown=True)


def confirmations(p: Plan) -> list[str]:
    """What the user must agree to before the sync writes (or pass --yes)."""
    asks = []
    if p.removal == "delete" and p.removed:
        asks.append(
            f"delete {len(p.removed)} note{'s' * (len(p.removed) != 1)} the deck removed, "
            "with their cards and review history"
        )
    if p.schema_change:
        asks.append("change note types so that the next AnkiWeb sync must be a one-way full upload")
    return asks


Confirm = Callable[[list[str]], bool]


# --- the whole command -------------------------------------------------------------------------


class Refused(Exception):
    """The sync stopped before writing anything; the message says why."""


def run(
    sources: list[str],
    collection_path: Path,
    tmp: Path,
    *,
    dry_run: bool = False,
    removal: Removal = "tag",
    prefer: merge.Prefer = None,
    confirm: Confirm = lambda asks: False,
) -> tuple[Report | None, list[Diagnostic]]:
    """Sync ``sources`` (deck files or folders, or one package) into the collection.

    Returns the report, or None and the diagnostics that stopped it (nothing written then).
    ``confirm`` is asked before deleting notes or changing a note type's schema.
    """
    from .ankifiles import sync as target
    from .ankifiles.read import PackageError
    from .output import WriteFailed

    where = str(collection_path)
    try:
        target.require_anki()
    except target.SyncError as e:
        return None, [Diagnostic(where, 0, 0, "sync", str(e))]
    if len(sources) == 1 and Path(sources[0]).suffix.lower() == ".apkg":
        from .ankifiles.release import read_release

        try:
            release: Release | None = read_release(Path(sources[0]), tmp)
        except PackageError as e:
            return None, [Diagnostic(sources[0], 0, 0, "package", str(e))]
        found: list[Diagnostic] = []
    else:
        release, found = release_from_decks(sources, tmp)
    if release is None:
        return None, found
    try:
        col = target.open_collection(collection_path)
    except target.SyncError as e:
        return None, [*found, Diagnostic(where, 0, 0, "collection", str(e))]
    try:
        result = plan(release, target.snapshot(col, collection_path, release), removal, prefer)
        report = Report(result, dry_run)
        if dry_run:
            report.backup_note = "dry run"
            return report, found
        if not result.writes:
            report.backup_note = "nothing to change"
            return report, found
        asks = confirmations(result)
        if asks and not confirm(asks):
            return None, [
                *found,
                Diagnostic(where, 0, 0, "sync", f"not confirmed: {'; '.join(asks)}; nothing was changed"),
            ]
        if result.added:
            try:
                release.package()
            except WriteFailed as e:
                return None, [*found, Diagnostic(str(e.target), 0, 0, "write", str(e))]
        report.backup = str(target.backup(col, collection_path))
        try:
            target.apply(col, result)
        except target.PartlyWritten as e:
            message = (
                f"{e}; the steps before it are written. Run sync again to finish (it continues "
                f"where this one stopped), or restore the backup {report.backup}"
            )
            return None, [*found, Diagnostic(where, 0, 0, "collection", message)]
        return report, found
    except target.SyncError as e:
        return None, [*found, Diagnostic(where, 0, 0, "collection", str(e))]
    finally:
        col.close()
