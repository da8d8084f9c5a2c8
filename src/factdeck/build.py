"""The pipeline: find deck files, load, validate, assemble, then lock and write packages.

Nothing is written unless every file is free of errors and every output could be written:
packages and locks are staged, then committed together (see ``output``).
"""

from __future__ import annotations

import gc
import os
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING

from . import lock as lockfile
from . import shards
from .assemble import BuiltDeck, assemble, duplicate_guids, output_limit
from .diagnostics import Collector, Diagnostic, errors_in
from .names import clashing_decks
from .output import Staging, WriteFailed, recover
from .render import media_key, same_content
from .validate import NoteReader, validate
from .yamlload import decode, load

DECK_SUFFIXES = (".yaml", ".yml")


def discover(paths: list[str]) -> tuple[list[Path], list[Diagnostic]]:
    """Deck files named directly, or found recursively under folders, in a stable order."""
    found: list[Path] = []
    diags: list[Diagnostic] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = sorted(
                p
                for p in path.rglob("*")
                if p.suffix in DECK_SUFFIXES
                and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not files:
                diags.append(Diagnostic(str(path), 0, 0, "no-decks", "no deck files (*.yaml, *.yml) here"))
            found.extend(files)
        elif path.is_file():
            found.append(path)
        elif path.exists():  # a FIFO, a device, a socket
            diags.append(
                Diagnostic(str(path), 0, 0, "not-a-file", "not a regular file (a deck file is a YAML file)")
            )
        else:
            diags.append(Diagnostic(str(path), 0, 0, "not-found", "no such file or folder"))
    unique = list(dict.fromkeys(Path(os.path.normpath(p)) for p in found))
    locks: dict[Path, Path] = {}
    for path in unique:
        other = locks.setdefault(lockfile.lock_path(path), path)
        if other != path:
            diags.append(
                Diagnostic(
                    str(path),
                    0,
                    0,
                    "lock-clash",
                    f"{other.name} and {path.name} would share the lock file "
                    f"{lockfile.lock_path(path).name}; rename one of them",
                )
            )
    return unique, diags


def compile_deck(path: Path) -> tuple[BuiltDeck | None, list[Diagnostic]]:
    """Load, validate and assemble one deck file; large files use both cores (see shards).

    Running out of memory is an error in this file, not a crash.
    """
    try:
        return _compile_deck(path)
    except Exception as e:
        if not out_of_memory(e):
            raise
        return None, [Diagnostic(str(path), 0, 0, "memory", "out of memory while reading this file")]


@contextmanager
def naming(path: str | Path) -> Iterator[None]:
    """Running out of memory inside the block names ``path`` (a note on the exception), so the
    one message the CLI prints says which file was being processed."""
    try:
        yield
    except BaseException as e:
        if out_of_memory(e) and not getattr(e, "__notes__", None):
            drop_frames(e)  # frees what the failed work held, so the note can be made
            with suppress(MemoryError):
                e.add_note(str(path))
        raise


def drop_frames(e: BaseException | None) -> None:
    """Let go of every frame the exception (and those it interrupted) holds: out of memory,
    that is what frees the memory needed to say so (factdeck never prints a traceback)."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        e.__traceback__ = None
        e = e.__context__ or e.__cause__


def out_of_memory(e: BaseException) -> bool:
    """Whether ``e`` is what running out of memory (a limit such as ``ulimit -v``) looks like.

    Besides MemoryError: a thread that cannot start, a module whose shared library cannot be
    mapped, and libyaml's binding returning an error with no exception set.
    """
    text = str(e)
    return (
        isinstance(e, MemoryError)
        or (isinstance(e, RuntimeError) and "can't start new thread" in text)
        or (
            isinstance(e, ImportError)
            and ("failed to map segment" in text or "Cannot allocate memory" in text)
        )
        or (isinstance(e, SystemError) and "error return without exception set" in text)
    )


def _compile_deck(path: Path) -> tuple[BuiltDeck | None, list[Diagnostic]]:
    out = Collector(str(path))
    try:
        data = path.read_bytes()
    except OSError as e:
        out.error(None, "read", f"cannot read file: {e.strerror}")
        return None, out.items
    text = decode(data, out)
    if text is None:
        return None, out.items
    del data
    try:
        large = len(text) >= shards.MIN_BYTES and shards.available()
        return shards.compile_file(str(path), text, shards.PIECES if large else 1)
    except shards.Fallback:
        pass  # not read here: the exception would keep the header-first read's work alive
    return compile_one_pass(str(path), text)


def compile_one_pass(path: str, text: str) -> tuple[BuiltDeck | None, list[Diagnostic]]:
    """The reference read of a decoded deck file: one parse, notes validated as they stream."""
    out = Collector(path, text)
    reader = NoteReader(out)
    tree = load(text, out, on_note=reader)
    if tree is None and out.items:
        # The YAML itself is broken: notes read before the break are often cut short by it,
        # so only the YAML-level problems are trustworthy.
        return None, [d for d in out.items if d.code.startswith(("yaml", "encoding"))]
    deck = validate(tree, path, out, reader)
    if deck is None:
        return None, out.items
    return assemble(deck, out, output_limit(len(text))), out.items


@dataclass
class Checked:
    decks: list[BuiltDeck] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    timings: list[tuple[str, str, float]] = field(default_factory=list)  # (path, stage, seconds)

    @property
    def errors(self) -> list[Diagnostic]:
        return errors_in(self.diagnostics)


Progress = Callable[[int, int], None]  # (bytes done, bytes in all), for a progress bar

if TYPE_CHECKING:
    from .ankifiles import package


def _write_text(f: IO[bytes], text: str) -> None:
    f.write(text.encode("utf-8"))


def _no_progress(done: int, total: int) -> None:
    pass


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while decks are compiled.

    A large build allocates millions of long-lived objects, and the collector would scan them
    again and again (a third of the time of a 100,000-note build). The pipeline makes no
    reference cycles worth collecting; memory is freed by reference counting as usual.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()  # what the build made is long-lived: do not rescan it at the next collection
            gc.enable()


def check(paths: list[str], progress: Progress = _no_progress) -> Checked:
    """Everything `build` verifies, without writing anything.

    ``progress(done, total)`` is called as deck bytes are processed, for a progress bar.
    """
    with naming(" ".join(paths)), gc_paused():
        return _check(*discover(paths), progress)


def _check(files: list[Path], diags: list[Diagnostic], progress: Progress) -> Checked:
    result = Checked(diagnostics=diags)
    sizes = [p.stat().st_size for p in files]
    total, done = sum(sizes) or 1, 0
    first_file: dict[str, str] = {}
    for path, size in zip(files, sizes):
        started = time.perf_counter()
        with naming(path):
            built, found = compile_deck(path)
        result.timings.append((str(path), "read", time.perf_counter() - started))
        result.diagnostics.extend(found)
        done += size
        progress(done, total)
        if built is None:
            continue
        deck = built.deck
        if deck.id in first_file:
            result.diagnostics.append(
                Diagnostic(
                    deck.path,
                    *deck.id_pos,
                    "duplicate-deck",
                    f"deck id `{deck.id}` is also used by {first_file[deck.id]}",
                )
            )
        elif deck.id:
            first_file[deck.id] = deck.path
        result.decks.append(built)
    result.diagnostics.extend(duplicate_guids(result.decks))
    # a note-type file included by several decks reports its problems once
    result.diagnostics = sorted(set(result.diagnostics))
    return result


@dataclass
class DeckReport:
    deck: BuiltDeck
    output: Path
    changes: lockfile.Changes


@dataclass
class BuildResult:
    reports: list[DeckReport] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # --locked: what would change
    timings: list[tuple[str, str, float]] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        return errors_in(self.diagnostics)


class UsageError(ValueError):
    """The command asks for something impossible (an output that is also an input)."""


def build_time() -> int:
    """SOURCE_DATE_EPOCH when set (reproducible-builds convention), else now.

    Raises UsageError when SOURCE_DATE_EPOCH is not whole seconds a package can hold.
    """
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is None or not value.strip():
        now = int(time.time())
        if now > lockfile.MAX_TIME:
            raise UsageError(f"the clock says {now}; package times must be {lockfile.TIME_RANGE}")
        return now
    try:
        return lockfile.parse_time(value.strip())
    except ValueError:
        raise UsageError(
            f"SOURCE_DATE_EPOCH must be whole seconds since 1970, {lockfile.TIME_RANGE}"
        ) from None


def build(
    paths: list[str],
    output: Path | None = None,
    locked: bool = False,
    dist: Path = Path("dist"),
    now: int | None = None,
    progress: Progress = _no_progress,
) -> BuildResult:
    """Check, then write every package and lock (all of them or none).

    Raises UsageError when an output would overwrite an input.
    """
    with naming(" ".join(paths)), gc_paused():  # the files' own names when it happens reading them
        return _build(paths, output, locked, dist, now, progress)


def _build(
    paths: list[str], output: Path | None, locked: bool, dist: Path, now: int | None, progress: Progress
) -> BuildResult:
    from .ankifiles import package  # only builds write packages: `check` starts faster without genanki

    now = build_time() if now is None else now
    files, diags = discover(paths)
    recover({p.parent for p in files} | {output.parent if output is not None else dist})
    refuse_clashes(files, [] if output is None else [output])
    checked = _check(files, diags, progress)
    result = BuildResult(diagnostics=checked.diagnostics, timings=checked.timings)
    if checked.errors:
        return result

    parts, pending_locks, read_locks = [], [], []
    for built in checked.decks:
        path = lockfile.lock_path(built.deck.path)
        with naming(path):
            out = Collector(str(path))
            old, old_text = lockfile.read(path, out)
            read_locks.append((path, old_text))
            notetypes = {
                nt.key: (nt.name, nt.definition_hash(), nt.field_names) for nt in built.notetypes().values()
            }
            new, changes = lockfile.advance(old, {n.id: n.hash for n in built.notes}, notetypes, now)
            lockfile.advance_history(old, new, built.notes)
            lockfile.advance_guids(old, new, built.notes)
            if not out.items and new.newest() > lockfile.MAX_TIME:
                out.error(
                    None,
                    "lock",
                    f"a note's next time would pass the end of 2107 (times must be {lockfile.TIME_RANGE})",
                )
            result.diagnostics.extend(out.items)
            text = new.format()
            if text != old_text:
                pending_locks.append((path, text))
                result.stale.append(_describe_stale(built.deck.path, changes))
            parts.append(package.Part(built, new))
            target = output if output is not None else dist / f"{built.deck.id}.apkg"
            result.reports.append(DeckReport(built, target, changes))
    if output is not None:
        result.diagnostics.extend(_clashing_notetypes(checked.decks))
        result.diagnostics.extend(clashing_media(checked.decks))
        result.diagnostics.extend(clashing_decks([built.deck for built in checked.decks]))
    else:
        for built in checked.decks:
            result.diagnostics.extend(clashing_media([built]))
    if not result.errors:
        refuse_clashes(
            files,
            [r.output for r in result.reports],
            [Path(src) for built in checked.decks for src in built.media.values()],
        )
    if result.errors or (locked and result.stale):
        result.reports = []
        return result

    jobs = (
        [(output, parts)] if output is not None else [(r.output, [p]) for p, r in zip(parts, result.reports)]
    )
    try:
        with Staging() as staging:
            for path, old_text in read_locks:  # the locks these outputs were made from
                staging.expect(path, None if old_text is None else old_text.encode("utf-8"))
            _stage(staging, pending_locks, jobs, result)
            started = time.perf_counter()
            with naming(jobs[0][0]):
                staging.commit()
            result.timings.append(("(all outputs)", "commit", time.perf_counter() - started))
    except WriteFailed as e:
        result.diagnostics.append(Diagnostic(str(e.target), 0, 0, "write", str(e)))
        result.reports = []
    return result


def _stage(
    staging: Staging,
    locks: list[tuple[Path, str]],
    jobs: list[tuple[Path, list[package.Part]]],
    result: BuildResult,
) -> None:
    """Stage the lock files first, then the packages: the commit renames them in this order.

    Why locks first: a lock records the time each note last changed, and a package shows
    those times to Anki, which only takes a note that is newer than its copy. If the renames
    stop part-way and nobody finishes them, the locks must not be behind a package anyone
    may already have imported. Locks first, a cut leaves new locks beside old packages: the
    old packages are what users had anyway, and the next build writes the packages from the
    new locks, times moving only forward. Packages first, a cut would leave a new package
    beside old locks; after a user imports it, editing the note back would give it its old,
    lower time, and Anki would ignore the edit. (The commit journal finishes cut commits at
    the next run; this order is what holds when it cannot.)
    """
    from .ankifiles import package

    for path, text in locks:
        staging.add(path, partial(_write_text, text=text))
    for target, job in jobs:
        started = time.perf_counter()
        try:
            package.stage(staging, target, job)
        except Exception as e:
            if not out_of_memory(e):
                raise
            raise WriteFailed(target, "out of memory") from None
        result.timings.append((str(target), "write", time.perf_counter() - started))


def _file_key(path: Path) -> tuple[object, ...]:
    """What identifies a file: its inode when it exists (so symlinks, `./`, hard links and a
    case-folding file system all compare equal), else its absolute path."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return ("path", os.path.normcase(os.path.abspath(path)))
    return ("inode", st.st_dev, st.st_ino)


def refuse_clashes(decks: list[Path], packages: list[Path], media: Sequence[Path] = ()) -> None:
    """Raise UsageError when an output (a package, a lock) would overwrite an input or another output."""
    inputs: dict[tuple[object, ...], str] = {}
    for deck in decks:
        inputs.setdefault(_file_key(deck), f"the deck file {deck}")
    for src in media:
        inputs.setdefault(_file_key(src), f"the image {src}")
    locks = {_file_key(lockfile.lock_path(d)): (d, lockfile.lock_path(d)) for d in decks}
    for key, (deck, lock) in locks.items():
        if key in inputs:
            raise UsageError(
                f"the lock file of {deck} would be {lock}, which is {inputs[key]}; rename the deck file"
            )
    seen: dict[tuple[object, ...], str] = {}
    for pkg in packages:
        key = _file_key(pkg)
        if key in inputs:
            raise UsageError(f"the output {pkg} is {inputs[key]}; choose another output")
        if key in locks:
            raise UsageError(f"the output {pkg} is the lock file {locks[key][1]}; choose another output")
        other = seen.setdefault(key, str(pkg))
        if other != str(pkg):
            raise UsageError(f"the outputs {other} and {pkg} are the same file")


def _clashing_notetypes(decks: list[BuiltDeck]) -> list[Diagnostic]:
    """Decks combined into one package must agree on each note type ID's definition."""
    first: dict[int, tuple[str, str, str]] = {}  # Anki ID -> (definition hash, key, deck path)
    found = []
    for built in decks:
        for nt in built.notetypes().values():
            digest = nt.definition_hash()
            seen = first.setdefault(nt.id, (digest, nt.key, built.deck.path))
            if seen[0] != digest:
                found.append(
                    Diagnostic(
                        built.deck.path,
                        0,
                        0,
                        "notetype-clash",
                        f"note type `{nt.key}` (Anki ID {nt.id}) differs from `{seen[1]}` in {seen[2]}, "
                        "which has the same ID; one package cannot hold both",
                    )
                )
    return found


def clashing_media(decks: list[BuiltDeck]) -> list[Diagnostic]:
    """One package holds one file per media name, and importers take names that differ only by
    case or Unicode form (``media_key``) for one: two different files by such names would give
    one deck's cards the other's file. Located at the `media:` key of the deck whose media folder
    holds the later one (bundled images are named by their content: one name, one content)."""
    first: dict[str, tuple[str, str, BuiltDeck]] = {}  # key -> (name, path, deck)
    found = []
    for built in decks:
        for name, path in sorted(built.media.items()):
            seen = first.setdefault(media_key(name), (name, path, built))
            hashed = name == seen[0] and name not in built.folder and name not in seen[2].folder
            if seen[1] == path or hashed or same_content(seen[1], path):
                continue
            other = f"`{_name(seen[0], name)}`" + (f" of {seen[2].deck.path}" if seen[2] is not built else "")
            how = (
                "by one name"
                if seen[0] == name
                else "by names that differ only by case or Unicode form, which importers take for one "
                "(Windows and macOS ignore case; Anki stores every name in NFC)"
            )
            at = built if name in built.folder else seen[2]
            found.append(
                Diagnostic(
                    at.deck.path,
                    *at.deck.media_pos,
                    "media-clash",
                    f"media file `{_name(name, seen[0])}` ({path}) and {other} ({seen[1]}) are different "
                    f"files {how}: one package cannot hold both; rename one",
                )
            )
    return found


def _name(name: str, other: str) -> str:
    """``name`` as a message shows it: escaped when it looks just like ``other`` (NFC and NFD)."""
    if name != other and unicodedata.normalize("NFC", name) == unicodedata.normalize("NFC", other):
        return name.encode("ascii", "backslashreplace").decode()
    return name


def _describe_stale(deck_path: str, changes: lockfile.Changes) -> str:
    what = []
    for label, ids in (
        ("new", changes.new),
        ("changed", changes.changed),
        ("removed", changes.removed),
        ("restyled note types", changes.restyled),
    ):
        if ids:
            what.append(f"{len(ids)} {label}: {lockfile.shorten(ids)}")
    return f"{deck_path}: lock is out of date ({'; '.join(what) or 'lock file format'})"
