"""The three-way merge of `factdeck sync`, field by field: pure functions, no Anki.

For one field of one note:
- *theirs* is what the learner's collection holds now;
- *ours* is the new content;
- the *base* is what factdeck shipped: every version is in the note's history (history.py).

Theirs equal to a shipped version (or to what the last sync wrote) means the learner has not
edited the field: it takes ours. An edited field stays as the learner has it; when ours has
also changed since the version the learner started from, that is a conflict, reported with the
new text. When factdeck cannot tell which version the learner started from (the field was
shipped in more than one version and no earlier sync recorded it), it says conflict rather
than guess: a conflict never loses anything, since the learner's text stays.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from .history import NoteHistory, field_hash, tag_hash

CONFLICT_TAG = "factdeck::conflict"
REMOVED_TAG = "factdeck::removed"

Outcome = Literal["same", "updated", "kept", "conflict"]
Prefer = Literal["theirs", "ours"] | None


@dataclass(frozen=True)
class FieldMerge:
    name: str
    outcome: Outcome
    value: str  # what the collection holds after the sync
    ours: str  # the new text (shown for conflicts)
    changes: bool  # whether value differs from what the collection holds now
    seen: str | None  # the hash to remember for the next sync, when the history cannot tell


def base_of(history: NoteHistory, name: str, seen: str | None) -> str | None:
    """The hash of the version the learner started from, when it is known."""
    if seen is not None:
        return seen
    shipped = history.shipped(name)
    return shipped[0] if len(shipped) == 1 and not history.unknown else None


def merge_field(
    name: str,
    theirs: str,
    ours: str,
    history: NoteHistory,
    seen: str | None = None,
    prefer: Prefer = None,
    gained: bool = False,
    open_conflict: bool = False,
) -> FieldMerge:
    """One field's outcome; ``seen`` is what the last sync recorded for it (None: nothing):
    the collection holding exactly that was not edited, and it is the base, except while the
    note's conflict is open. ``gained``: the note type gains the field in this sync."""
    mine, new = field_hash(theirs), field_hash(ours)
    shipped = history.shipped(name)
    remember = new if len(shipped) > 1 or history.unknown else None
    if mine == new:
        return FieldMerge(name, "same", theirs, ours, False, remember)
    if mine in shipped or mine == seen or gained:
        return FieldMerge(name, "updated", ours, ours, True, remember)
    if base_of(history, name, None if open_conflict else seen) == new:
        return FieldMerge(name, "kept", theirs, ours, False, remember)
    if prefer == "ours":
        return FieldMerge(name, "conflict", ours, ours, True, remember)
    return FieldMerge(name, "conflict", theirs, ours, False, remember)


@dataclass(frozen=True)
class NoteMerge:
    fields: tuple[FieldMerge, ...]
    tags: tuple[str, ...]  # the note's tags after the sync
    tags_changed: bool
    seen: dict[str, str] = field(default_factory=dict)  # field name -> hash, for the next sync

    @property
    def conflicts(self) -> list[FieldMerge]:
        return [f for f in self.fields if f.outcome == "conflict"]

    @property
    def changes(self) -> bool:
        return self.tags_changed or any(f.changes for f in self.fields)


def merge_tags(theirs: Iterable[str], ours: Iterable[str], shipped: Iterable[str]) -> list[str]:
    """Tags as sets: the maintainer's current tags, minus none of the learner's own.

    A tag the collection has that factdeck once shipped on this note and no longer does was
    removed by the maintainer; any other tag there is the learner's and stays. Compared without
    case, as Anki does; the learner's spelling of a tag wins.
    """
    ours = list(ours)
    wanted = {t.casefold() for t in ours}
    once = set(shipped)
    result: list[str] = []
    have: set[str] = set()
    for tag in [*(t for t in theirs if t.casefold() in wanted or tag_hash(t) not in once), *ours]:
        if tag.casefold() not in have:
            have.add(tag.casefold())
            result.append(tag)
    return result


def merge_note(
    theirs: Mapping[str, str],
    ours: Mapping[str, str],
    theirs_tags: Iterable[str],
    ours_tags: Iterable[str],
    history: NoteHistory,
    seen: Mapping[str, str] | None = None,
    prefer: Prefer = None,
    gained: Iterable[str] = (),
) -> NoteMerge:
    """Every field both sides have, and the tags; ``gained`` names fields the collection's note
    type gains in this sync (the note has them empty).

    While a note carries the conflict tag its conflicts count as open: what the last sync
    recorded is not used as the base, so the conflict is reported again (and ``prefer`` can
    still settle it) until the learner removes the tag.
    """
    theirs_tags = list(theirs_tags)
    open_conflict = any(t.casefold() == CONFLICT_TAG for t in theirs_tags)
    recorded = seen or {}
    new_fields = set(gained)
    fields = tuple(
        merge_field(
            name,
            theirs.get(name, ""),
            text,
            history,
            recorded.get(name),
            prefer,
            name in new_fields,
            open_conflict,
        )
        for name, text in ours.items()
        if name in theirs or name in new_fields
    )
    tags = merge_tags(theirs_tags, ours_tags, history.tags)
    tags = [t for t in tags if t.casefold() != REMOVED_TAG]  # the note is upstream again
    conflicted = any(f.outcome == "conflict" for f in fields)
    if conflicted and prefer is None and not open_conflict:
        tags.append(CONFLICT_TAG)
    elif conflicted and prefer is not None:
        tags = [t for t in tags if t.casefold() != CONFLICT_TAG]
    changed = tags != theirs_tags
    remembered = {f.name: f.seen for f in fields if f.seen is not None}
    return NoteMerge(fields, tuple(tags), changed, remembered)


def removed_tags(theirs_tags: Iterable[str]) -> tuple[list[str], bool]:
    """The tags of a note the maintainer removed, and whether that changes them."""
    tags = list(theirs_tags)
    if any(t.casefold() == REMOVED_TAG for t in tags):
        return tags, False
    return [*tags, REMOVED_TAG], True
