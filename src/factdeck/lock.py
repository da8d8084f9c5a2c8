"""The lock file: per-note content hashes and times, so only what changed updates in Anki.

Anki's default import replaces a note when the incoming note is newer, even if nothing in it
changed, and ignores it when it is not newer, even if it did change. So each note keeps the
time it was last changed, and that time moves forward exactly when its content hash does.
One line per entry, sorted, so the lock's git diff shows which notes changed.

A note's line ends with its history (see history.py): short hashes of every version of its
fields and tags that factdeck has shipped, which `factdeck sync` needs to tell a learner's own
edits from older versions. Lines without one (locks written before histories) still read; such
a note counts as shipped once, in its current version; one whose time is past its added time
changed before histories were kept, so its history also says "and in versions nobody recorded".

A note with a `guid:` of its own also has a `guid <GUID> <note id>` line, kept after the note is
removed: nothing else can tell later that a note with that GUID in a learner's collection was
the deck's (a derived GUID says so itself), and `factdeck sync` needs to know to flag it removed.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from . import history as histories
from .diagnostics import Collector

if TYPE_CHECKING:
    from .notetypes import NoteType

HEADER = (
    "# factdeck lock file: commit it with the deck. Written by `factdeck build`; do not edit.\n"
    "# notetype <type> <definition hash> <time> <fields> | note <id> <content hash> <time> <added> <history>\n"
)
GUIDS_HEADER = (
    "# guid <GUID> <note id>: notes with a guid: of their own, kept after they are removed (for sync)\n"
)


# Every time in a lock dates notes in a zip and in Anki; a zip's dates end with the year 2107.
MAX_TIME = 4354819199  # 2107-12-31 23:59:59 UTC
_TIME_DIGITS = len(str(MAX_TIME))
TIME_RANGE = "between 0 (1970) and 4354819199 (the end of 2107, the last year a zip file can date)"


def parse_time(text: str) -> int:
    """Whole seconds since 1970 in the range a package can hold; ValueError otherwise
    (_OutOfRange, a ValueError, when it is a number but out of range)."""
    if not (text.isascii() and text.isdigit()):  # str methods: a large lock has 200,000 times
        if text[:1] == "-" and text[1:].isascii() and text[1:].isdigit():
            raise _OutOfRange(text)
        raise ValueError(text)
    if len(text) > _TIME_DIGITS or int(text) > MAX_TIME:
        raise _OutOfRange(text)
    return int(text)


class _OutOfRange(ValueError):
    pass


def _word(text: str) -> str:
    """A note id, note type key or hash: printable, no spaces (it reaches the terminal). The
    only character both printable and a space by str.isspace is " " (checked for every one)."""
    if not text or not text.isprintable() or " " in text:
        raise ValueError
    return text


# what no field name holds (customtypes refuses them): controls, line breaks, lone surrogates
_NOT_IN_FIELD_NAMES = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def _field_name(name: str) -> bool:
    """Whether ``name`` can be a field name, as written in JSON: a no-break space or an invisible
    formatting character (U+200B, U+2066) is, and reads back exactly (it is escaped when printed)."""
    return bool(name) and not _NOT_IN_FIELD_NAMES.search(name)


@dataclass
class Lock:
    notes: dict[str, tuple[str, int, int]] = field(default_factory=dict)  # id -> (hash, time, added)
    notetypes: dict[str, tuple[str, int, tuple[str, ...]]] = field(
        default_factory=dict
    )  # key -> (hash, time, fields)
    # note id -> the history token at the end of its line (kept as text: most notes never change,
    # so most tokens are only copied from one lock to the next)
    history: dict[str, str] = field(default_factory=dict)
    # GUID -> note id: every `guid:` of its own the deck has shipped, its removed notes' included
    guids: dict[str, str] = field(default_factory=dict)
    # note ids whose history this build started (only the current version): a package needs no
    # row for them, and finding that out from the token would cost a 100,000-note build time
    fresh: set[str] = field(default_factory=set, compare=False)

    def note_history(self, note_id: str) -> histories.NoteHistory | None:
        """The note's shipped versions; None when the lock has none (written before histories)."""
        token = self.history.get(note_id)
        if token is None:
            return None
        fields_of = {key: entry[2] for key, entry in self.notetypes.items()}
        return histories.parse_token(token, fields_of)

    def newest(self) -> int:
        times = [t for _, t, _ in self.notes.values()] + [t for _, t, _ in self.notetypes.values()]
        return max(times, default=0)

    def format(self) -> str:
        lines = [HEADER]
        for key in sorted(self.notetypes):
            digest, time, fields = self.notetypes[key]
            lines.append(
                f"notetype {key} {digest} {time} {json.dumps(list(fields), separators=(',', ':'))}\n"
            )
        for note_id in sorted(self.notes):
            digest, time, added = self.notes[note_id]
            token = self.history.get(note_id)
            tail = f" {token}" if token else ""
            lines.append(f"note {note_id} {digest} {time} {added}{tail}\n")
        if self.guids:
            lines.append(GUIDS_HEADER)
            lines.extend(f"guid {guid} {self.guids[guid]}\n" for guid in sorted(self.guids))
        return "".join(lines)


@dataclass
class Changes:
    """What a build changes relative to the previous lock, for the summary and `--locked`."""

    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    restyled: list[str] = field(default_factory=list)  # note type names
    field_changes: list[str] = field(default_factory=list)  # sentences for maintainers

    def any(self) -> bool:
        return bool(self.new or self.changed or self.removed or self.restyled or self.field_changes)


def shorten(ids: list[str], limit: int = 10) -> str:
    """A list of note ids short enough for one line of a summary."""
    return ", ".join(ids[:limit]) + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def lock_path(deck_path: str | Path) -> Path:
    return Path(deck_path).with_suffix(".lock")


def read(path: Path, out: Collector) -> tuple[Lock, str | None]:
    """The lock and its text (None when there is no lock file, which counts as an empty lock).

    A damaged lock is an error, never silently reset. Lock files are untrusted input: any
    content gives a located error, never an exception.
    """
    lock = Lock()
    try:
        data = _read_regular(path)
    except FileNotFoundError:
        return lock, None
    except OSError as e:
        out.error(None, "lock", f"cannot read lock file {path}: {e.strerror or e}")
        return lock, None
    try:
        whole = data.decode("utf-8")
    except UnicodeDecodeError as e:
        bad_line = data.count(b"\n", 0, e.start) + 1
        out.error((bad_line, 1), "lock", f"lock file {path.name} is not UTF-8 text")
        return lock, None
    text = whole.removeprefix("\ufeff")  # a byte order mark, as some editors write one
    tokens: dict[str, int] = {}  # note id -> line number, checked once every note type is known
    lines_of: dict[str, int] = {}  # note id -> its line
    types_at: dict[str, int] = {}  # note type key -> its line
    for number, line in enumerate(text.split("\n"), 1):
        line = line.removesuffix("\r")
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split(" ", 4)
        problem = "a line factdeck does not understand"
        try:
            if parts[0] == "note" and len(parts) >= 5:
                added, _, token = parts[4].partition(" ")
                if token or " " not in parts[4]:
                    note = (_word(parts[2]), parse_time(parts[3]), parse_time(added))
                    if parts[1] in lock.notes:
                        _twice(out, path, "note", parts[1], lines_of, number)
                        continue
                    lock.notes[_word(parts[1])] = note
                    lines_of[parts[1]] = number
                    if token:
                        lock.history[parts[1]] = token
                        tokens[parts[1]] = number
                    continue
            if parts[0] == "guid" and len(parts) == 3:
                lock.guids[_word(parts[1])] = _word(parts[2])
                continue
            if parts[0] == "notetype" and len(parts) == 5:
                fields = json.loads(parts[4])
                if isinstance(fields, list) and all(isinstance(f, str) and _field_name(f) for f in fields):
                    entry = (_word(parts[2]), parse_time(parts[3]), tuple(fields))
                    if parts[1] in lock.notetypes:
                        _twice(out, path, "notetype", parts[1], types_at, number)
                        continue
                    lock.notetypes[_word(parts[1])] = entry
                    types_at[parts[1]] = number
                    continue
        except _OutOfRange:
            problem = f"a time out of range (times must be {TIME_RANGE})"
        except (ValueError, RecursionError):
            pass
        if line.startswith(("<<<<<<<", "=======", ">>>>>>>")):
            problem = "an unresolved merge conflict; keep the newer time of each note or delete the lock"
        out.error((number, 1), "lock", f"lock file {path.name} has {problem}")
    fields_of = {key: entry[2] for key, entry in lock.notetypes.items()}
    for note_id, number in tokens.items():
        damage = histories.check_token(lock.history[note_id], fields_of)
        if damage is not None:
            del lock.history[note_id]
            out.error((number, 1), "lock", f"lock file {path.name} has a damaged note history ({damage})")
    return lock, whole


def _twice(out: Collector, path: Path, kind: str, key: str, first: dict[str, int], number: int) -> None:
    """Report a second line for one note or note type: which of the two holds the right time
    only the user can tell (keeping either silently could move a note's time backwards)."""
    out.error(
        (number, 1),
        "lock",
        f"lock file {path.name} lists {kind} `{key}` twice (lines {first[key]} and {number}); "
        "keep the line with the later time",
    )


def _read_regular(path: Path) -> bytes:
    """The bytes of a regular file; a FIFO or device is refused instead of waited on."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(0, "not a regular file")
        return f.read()


def advance(
    old: Lock, note_hashes: dict[str, str], notetypes: dict[str, tuple[str, str, tuple[str, ...]]], now: int
) -> tuple[Lock, Changes]:
    """The next lock: unchanged entries keep their time, changed ones move past their old time.

    ``notetypes`` maps key -> (name, definition hash, field names).
    """
    new, changes = Lock(), Changes()
    for note_id, digest in note_hashes.items():
        prev = old.notes.get(note_id)
        if prev is None:
            new.notes[note_id] = (digest, now, now)
            changes.new.append(note_id)
        elif prev[0] == digest:
            new.notes[note_id] = prev
        else:
            new.notes[note_id] = (digest, max(now, prev[1] + 1), prev[2])
            changes.changed.append(note_id)
    changes.removed = sorted(set(old.notes) - set(note_hashes))
    for key, (name, digest, fields) in notetypes.items():
        was = old.notetypes.get(key)
        if was is None:
            new.notetypes[key] = (digest, now, fields)
        elif was[0] == digest:
            new.notetypes[key] = was
        else:
            new.notetypes[key] = (digest, max(now, was[1] + 1), fields)
            changes.restyled.append(name)
            changes.field_changes.extend(_field_change_messages(name, was[2], fields))
    return new, changes


def advance_guids(old: Lock, new: Lock, notes: Iterable[OwnGuid]) -> None:
    """``new``'s own GUIDs: the old lock's, removed notes' included, and the notes' own."""
    new.guids = dict(old.guids)
    for note in notes:
        if note.own_guid:
            new.guids[note.guid] = note.id


class OwnGuid(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def guid(self) -> str: ...
    @property
    def own_guid(self) -> bool: ...


class ShippedNote(Protocol):
    """What the history needs of a note (assemble.Built has it)."""

    @property
    def id(self) -> str: ...
    @property
    def hash(self) -> str: ...
    @property
    def flds(self) -> str: ...
    @property
    def tags(self) -> list[str]: ...
    @property
    def notetype(self) -> NoteType: ...
    @property
    def first(self) -> str: ...  # the first token when already made, else ""


def advance_history(old: Lock, new: Lock, notes: Iterable[ShippedNote]) -> None:
    """Each note's history in ``new``: the old one, plus the current version if it changed.

    An unchanged note's history is copied as text. A note of a pre-history lock that has been
    shipped in other versions gets the current version and an "unknown earlier version" mark,
    so that `sync` reports a difference from it as a conflict instead of guessing.
    """
    fields_of = {key: entry[2] for key, entry in old.notetypes.items()}
    for note in notes:
        key = note.notetype.key
        prev, token = old.notes.get(note.id), old.history.get(note.id)
        same = token is not None and prev is not None and prev[0] == note.hash
        if same and histories.token_notetype(token or "") == key:
            new.history[note.id] = token or ""
            continue
        if token is None:
            # a pre-history lock: a note that changed since it was added (its time is past its
            # added time), or changes now, had versions nobody recorded
            unknown = prev is not None and (prev[0] != note.hash or prev[1] != prev[2])
            first = note.first or histories.first_token(key, note.flds, note.tags)
            new.history[note.id] = ("?" if unknown else "") + first
            if not unknown:
                new.fresh.add(note.id)
            continue
        try:
            earlier = histories.parse_token(token, fields_of)
        except ValueError:  # read() reports damaged tokens; this only guards a hand-built Lock
            earlier = histories.NoteHistory(unknown=True)
        names = note.notetype.field_names
        merged = earlier.with_version(dict(zip(names, note.flds.split("\x1f"))), note.tags)
        new.history[note.id] = histories.lock_token(key, names, merged)


def _field_change_messages(name: str, before: tuple[str, ...], after: tuple[str, ...]) -> list[str]:
    if before == after:
        return []
    gained = [f for f in after if f not in before]
    lost = [f for f in before if f not in after]
    what = []
    if gained:
        what.append("gained field" + ("s " if len(gained) > 1 else " ") + ", ".join(f"'{f}'" for f in gained))
    if lost:
        what.append("lost field" + ("s " if len(lost) > 1 else " ") + ", ".join(f"'{f}'" for f in lost))
    if not what:
        what.append("reordered its fields")
    return [
        f"note type '{name}' {' and '.join(what)}: users must tick Merge note types and set "
        f"Update notes to Always when importing this version"
    ]
