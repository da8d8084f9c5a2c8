"""Writing outputs so that readers only ever see the old set of files or the new set, whole.

Every output is first *staged*: written in full to a temporary file beside its target, synced,
and kept locked (``flock``) by the process writing it. Then the whole set is *committed*: the
folders involved are locked, a small journal listing every ``temporary -> target`` rename is
written into each of them (itself through a rename), the renames happen in the order the
files were staged, and the journals are removed. SIGINT and SIGTERM wait until a commit is
over (see ``signals_deferred``).

A rename is atomic, but several renames are not one step, so a commit can be cut (SIGKILL,
power loss) part-way. The journal makes any cut point recoverable: it is written only once
every temporary file is complete, so the commit can always be finished ("rolled forward").
Before a command reads or writes outputs it calls ``recover`` on the folders it uses: under
their locks, any journal left there belongs to a dead process (a live committer holds the
lock for the journal's whole life), so its remaining renames are done and it is removed; then
temporary files whose lock is free (their writer is dead) are removed, and so are working
folders left by killed commands, there and in TMPDIR (``private_workdir``). Temporary names
carry the process id and a token of that process (``.NAME.factdeck-PID-TOKEN-N.tmp``,
``factdeck-PURPOSE-PID-TOKEN-N``), for people reading a folder listing; whether a file is stale
is decided by its lock alone, so a live concurrent command's files are never touched.

Which order the renames take matters when the later ones never happen and nobody recovers
(the journal deleted, the folder copied elsewhere): the caller stages first what must become
visible first (``build`` stages lock files before packages, and says why).
"""

from __future__ import annotations

import errno
import fcntl
import itertools
import json
import os
import re
import secrets
import shutil
import signal
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

JOURNAL_PREFIX = ".factdeck-commit-"
_TEMP = re.compile(r"\A\..*\.factdeck-\d+-[0-9a-f]{12}-\d+\.tmp\Z", re.S)
_JOURNAL = re.compile(r"\A\.factdeck-commit-\d+-[0-9a-f]{12}\.json\Z")
# `factdeck-PID-TOKEN-N` (a build's, in TMPDIR), `factdeck-read-...`, `.factdeck-import-...`
_WORKDIR = re.compile(r"\A\.?factdeck-(?:[a-z]+-)?\d+-[0-9a-f]{12}-\d+\Z")
_PURPOSE = re.compile(r"\A[a-z]*\Z")
# what versions before private_workdir left (tempfile.TemporaryDirectory: 8 random characters,
# no lock held); past OLD_WORKDIR_AGE unmodified, no command of theirs can still be using one
_OLD_WORKDIR = re.compile(r"\A\.?factdeck-(?:(?:import|read|sync|diff)-)?[a-z0-9_]{8}\Z")
OLD_WORKDIR_AGE = 24 * 3600
_MAX_JOURNAL_BYTES = 64 << 20  # some 300,000 renames
_counter = itertools.count()
_token: tuple[int, str] = (0, "")
# (device, inode) of this process's live working folders: it holds their locks already, and a
# commit into one (a package staged in it) must not wait for a lock it holds itself
_own_workdirs: set[tuple[int, int]] = set()


class WriteFailed(Exception):
    """An output could not be staged or committed; ``target`` is the file the user asked for."""

    def __init__(self, target: Path, reason: str):
        super().__init__(f"cannot write {target}: {reason}")
        self.target = target
        self.reason = reason


def process_tag() -> str:
    """``PID-TOKEN``: names this process's temporary files; renewed in a forked child."""
    global _token
    pid = os.getpid()
    if _token[0] != pid:
        _token = (pid, secrets.token_hex(6))
    return f"{pid}-{_token[1]}"


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP until the block is done, then deliver the first that came.

    Used around steps that must not be cut short by a polite interruption (a commit's renames,
    creating a temporary file and remembering it). Only the main thread can set handlers; in
    any other thread, and for a signal whose handler Python cannot restore, this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    saved = {}
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        handler = signal.getsignal(signum)
        if handler is not None:
            saved[signum] = handler
            signal.signal(signum, lambda n, _frame: pending.append(n))
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
        if pending:
            signal.raise_signal(pending[0])


def _lock_fd(fd: int, blocking: bool = True) -> bool:
    """Lock ``fd``; False when another process holds it (or, not blocking, when the file
    system cannot lock: then nobody can tell a stale file, so it is left alone)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    except OSError:
        return blocking
    return True


def _same_file(path: str, fd: int) -> bool:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def _temp_name(target: Path) -> str:
    """A temporary name beside ``target``, short enough for any file system (255 bytes)."""
    stem = target.name
    while len(os.fsencode(stem)) > 180:
        stem = stem[: len(stem) // 2]
    return f".{stem}.factdeck-{process_tag()}-{next(_counter)}.tmp"


def _open_locked_temp(target: Path) -> tuple[str, int]:
    """Create a new temporary file beside ``target`` and lock it; (path, fd).

    Between creating the file and locking it, a cleaning run could find it unlocked and remove
    it; so after locking, the name is checked to still be this file, else another is made.
    """
    while True:
        path = os.path.join(os.path.abspath(target.parent), _temp_name(target))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        _lock_fd(fd)
        if _same_file(path, fd):
            return path, fd
        os.close(fd)


@dataclass
class _Staged:
    target: Path
    temp: str
    fd: int


@dataclass
class Staging:
    """Outputs written beside their targets, committed together or not at all.

    Use as a context manager: leaving it without ``commit`` (an error, an interruption)
    removes every temporary file, and the targets stay as they were.
    """

    staged: list[_Staged] = field(default_factory=list)
    expected: dict[Path, bytes | None] = field(default_factory=dict)  # input -> content when read
    made: list[Path] = field(default_factory=list)  # folders created for outputs, deepest last

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()

    def add(self, target: Path, fill: Callable[[IO[bytes]], None]) -> None:
        """Write ``target``'s new content through ``fill(file)`` into a locked temporary file.

        Raises WriteFailed naming ``target`` (never the temporary name).
        """
        if any(s.target == target for s in self.staged):
            raise ValueError(f"{target} is staged twice")
        try:
            if target.is_dir():
                raise WriteFailed(target, "a folder is in the way")
            self._make_folders(target.parent)
            with signals_deferred():
                temp, fd = _open_locked_temp(target)
                self.staged.append(_Staged(target, temp, fd))
            with os.fdopen(os.dup(fd), "wb") as f:
                fill(f)
                f.flush()
                os.fsync(f.fileno())
            os.fchmod(fd, 0o644)
        except OSError as e:
            raise WriteFailed(target, _reason(e, target)) from e

    def expect(self, path: Path, content: bytes | None) -> None:
        """Commit only if ``path`` still holds ``content`` (None: does not exist), what the
        outputs were made from; another build that committed meanwhile makes this one fail
        rather than pair its outputs with the other's."""
        self.expected[path] = content

    def commit(self) -> None:
        """Rename every staged file onto its target, in the order staged, as one step (see above)."""
        if not self.staged:
            return
        dirs = {
            os.path.abspath(os.fspath(p.parent)) for p in [*(s.target for s in self.staged), *self.expected]
        }
        with _DirLocks(dirs) as held:
            _settle(held)
            for path, content in self.expected.items():
                try:
                    now: bytes | None = path.read_bytes()
                except FileNotFoundError:
                    now = None
                except OSError as e:
                    raise WriteFailed(path, e.strerror or str(e)) from e
                if now != content:
                    raise WriteFailed(path, "it changed while this build ran (another build?); run it again")
            for s in self.staged:
                if s.target.is_dir():
                    raise WriteFailed(s.target, "a folder is in the way")
                if not os.access(s.target.parent, os.W_OK | os.X_OK):
                    raise WriteFailed(s.target, f"{s.target.parent} is not writable")
            with signals_deferred():
                journals = self._write_journals(held) if len(self.staged) > 1 else []
                done = 0
                try:
                    for s in self.staged:
                        os.replace(s.temp, s.target)
                        done += 1
                except OSError as e:
                    failed = self.staged[done].target
                    raise WriteFailed(failed, _reason(e, failed)) from e
                finally:
                    for folder in held.fds.values():
                        _sync_dir(folder)
                    for journal in journals:
                        with suppress(FileNotFoundError):
                            os.unlink(journal)
                    self._release(done)

    def discard(self) -> None:
        """Remove every temporary file not yet committed (its target is untouched)."""
        self._release(0)

    def _make_folders(self, folder: Path) -> None:
        missing = []
        while not folder.is_dir() and folder != folder.parent:
            missing.append(folder)
            folder = folder.parent
        for path in reversed(missing):
            try:
                path.mkdir()
            except FileExistsError:
                if not path.is_dir():
                    raise
                continue  # made by someone else meanwhile: theirs to keep
            self.made.append(path)

    def _release(self, committed: int) -> None:
        with signals_deferred():
            for i, s in enumerate(self.staged):
                if i >= committed:
                    with suppress(FileNotFoundError):
                        os.unlink(s.temp)
                os.close(s.fd)
            if not committed:  # nothing written: the folders made for it go too, if still empty
                for folder in reversed(self.made):
                    with suppress(OSError):
                        folder.rmdir()
            self.staged, self.made = [], []

    def _write_journals(self, held: _DirLocks) -> list[str]:
        name = f"{JOURNAL_PREFIX}{process_tag()}.json"
        copies = [os.path.join(d, name) for d in held.paths]
        body = json.dumps(
            {
                "factdeck-commit": 1,
                "renames": [[s.temp, os.path.abspath(os.fspath(s.target))] for s in self.staged],
                "journals": copies,
            }
        ).encode("ascii")  # ensure_ascii keeps undecodable file names as \\udcXX escapes
        written = []
        try:
            for copy in copies:
                temp, fd = _open_locked_temp(Path(copy))
                try:
                    os.write(fd, body)
                    os.fsync(fd)
                    os.replace(temp, copy)
                    written.append(copy)
                finally:
                    os.close(fd)
                    with suppress(FileNotFoundError):
                        os.unlink(temp)
                _sync_dir(held.fds[os.path.dirname(copy)])
        except OSError as e:
            for copy in written:
                with suppress(FileNotFoundError):
                    os.unlink(copy)
            target = self.staged[0].target
            raise WriteFailed(
                target, f"cannot write the commit journal in {os.path.dirname(copy)}: {e.strerror or e}"
            ) from e
        return written


def _sync_dir(fd: int) -> None:
    with suppress(OSError):  # some file systems cannot sync a folder; the renames still happened
        os.fsync(fd)


def _reason(e: OSError, target: Path) -> str:
    """Why writing ``target`` failed, naming a folder in the way but never a temporary file."""
    if e.errno in (errno.EEXIST, errno.ENOTDIR):
        reason = "a file is in the way of a folder this needs"
    elif e.errno == errno.EISDIR:
        reason = "a folder is in the way"
    else:
        reason = e.strerror or str(e)
    if e.filename is not None:
        name = os.fsdecode(e.filename)
        if not _TEMP.match(os.path.basename(name)) and Path(name) != target:
            reason += f" ({name})"
    return reason


def atomic_write(path: Path, fill: Callable[[IO[bytes]], None]) -> None:
    """Write one file through ``fill(file)``: readers see the old file or the new one, never a part."""
    with Staging() as staging:
        staging.add(path, fill)
        staging.commit()


class _DirLocks:
    """Exclusive locks on folders (``flock`` on the folder itself), always taken in one order
    (device, inode) so that two processes locking overlapping sets cannot deadlock."""

    def __init__(self, paths: Iterable[str]):
        self.paths: list[str] = []
        self.fds: dict[str, int] = {}
        self._wanted = set(paths)

    def __enter__(self) -> _DirLocks:
        self._acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release()

    def extend(self, more: Iterable[str]) -> bool:
        """Lock ``more`` as well (all locks are let go and taken again in order); False if
        nothing new was needed."""
        new = {p for p in more if p not in self._wanted}
        if not new:
            return False
        self._release()
        self._wanted |= new
        self._acquire()
        return True

    def _acquire(self) -> None:
        opened: dict[tuple[int, int], tuple[str, int]] = {}
        for path in sorted(self._wanted):
            try:
                fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError:
                continue  # a folder that does not exist holds nothing to settle
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) in opened:
                os.close(fd)  # the same folder by another name: one lock, or it would wait on itself
                continue
            opened[(st.st_dev, st.st_ino)] = (path, fd)
        try:
            for key in sorted(opened):
                if key not in _own_workdirs:
                    _lock_fd(opened[key][1])
        except BaseException:
            for _, fd in opened.values():
                os.close(fd)
            raise
        self.paths = [opened[key][0] for key in sorted(opened)]
        self.fds = dict(opened.values())

    def _release(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.paths, self.fds = [], {}


def recover(folders: Iterable[Path | str]) -> None:
    """Finish commits cut short in ``folders`` and remove what dead commands left there (temporary
    files, working folders) and in TMPDIR.

    Called before a command reads or writes outputs. Never touches a live command's files.
    """
    with signals_deferred(), _DirLocks(os.path.abspath(os.fspath(f)) for f in folders) as held:
        _settle(held)
    _remove_stale_workdirs()


def _settle(held: _DirLocks) -> None:
    """Under ``held``'s locks: roll forward dead journals, then remove dead temporary files."""
    while True:
        journals = [(path, _read_journal(path)) for d in held.paths for path in _listing(d, _JOURNAL)]
        needed = {os.path.dirname(p) for _, j in journals for pair in j for p in pair}
        needed |= {os.path.dirname(p) for p, _ in journals}
        if not held.extend(needed):
            break
    for path, renames in journals:
        for temp, target in renames:
            _roll_forward(temp, target)
        with suppress(FileNotFoundError):
            os.unlink(path)
    for d in held.paths:
        for path in [*_listing(d, _TEMP), *_listing(d, _WORKDIR)]:
            _remove_if_stale(path)
        for path in _listing(d, _OLD_WORKDIR):
            _remove_if_old(path)


def _roll_forward(temp: str, target: str) -> None:
    """One rename of a dead commit, if its temporary file is still there and nobody holds it."""
    try:
        fd = os.open(temp, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return  # renamed already
    try:
        if _lock_fd(fd, blocking=False) and _same_file(temp, fd) and stat.S_ISREG(os.fstat(fd).st_mode):
            os.replace(temp, target)
    except OSError:
        pass  # a folder made in the target's place since: that rename cannot happen
    finally:
        os.close(fd)


def _listing(folder: str, pattern: re.Pattern[str]) -> list[str]:
    try:
        with os.scandir(folder) as entries:
            return [os.path.join(folder, e.name) for e in entries if pattern.match(e.name)]
    except OSError:
        return []


def _read_journal(path: str) -> list[tuple[str, str]]:
    """The renames a journal asks for; nothing if it is not one factdeck wrote.

    A journal is untrusted like any file in a checkout: each rename must be from one of
    factdeck's temporary names for that very target, in the target's own folder, so a planted
    journal can do no more than finish a commit.
    """
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size > _MAX_JOURNAL_BYTES:
                return []
            data: Any = json.loads(f.read())
        renames = data["renames"]
        result = []
        for temp, target in renames:
            if not (isinstance(temp, str) and isinstance(target, str)):
                return []
            if os.path.dirname(temp) != os.path.dirname(target) or not os.path.isabs(target):
                return []
            name = os.path.basename(target)
            prefix = os.path.basename(temp).split(".factdeck-", 1)[0]
            if not _TEMP.match(os.path.basename(temp)) or not ("." + name).startswith(prefix):
                return []
            result.append((temp, target))
        return result
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return []


def _remove_if_stale(path: str) -> None:
    """Remove a temporary file, or a working folder, whose writer no longer holds its lock (and
    first what the folder's rollback list says a killed commit of its had put in place)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if not _lock_fd(fd, blocking=False) or not _same_file(path, fd):
            return
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            _roll_back(path)
            shutil.rmtree(path, ignore_errors=True)
        elif stat.S_ISREG(os.fstat(fd).st_mode):
            os.unlink(path)
    except OSError:
        pass
    finally:
        os.close(fd)


_ROLLBACK = "rollback.json"


def moves_begin(workdir: str, names: Iterable[str]) -> None:
    """Before moving ``names`` from a private working folder into its parent, one at a time:
    list them, with the file each is, so that if the process dies before ``moves_done``, the
    next ``recover`` takes back out exactly the ones it had moved (a killed import leaves the
    old state, never half of the new one)."""
    entries = []
    for name in names:
        st = os.lstat(os.path.join(workdir, name))
        entries.append([name, st.st_dev, st.st_ino])
    with open(os.path.join(workdir, _ROLLBACK), "x", encoding="utf-8") as f:
        json.dump(entries, f)
        f.flush()
        os.fsync(f.fileno())


def moves_done(workdir: str) -> None:
    """Every move is made (or undone): the commit point."""
    with suppress(FileNotFoundError):
        os.unlink(os.path.join(workdir, _ROLLBACK))


def _roll_back(workdir: str) -> None:
    """Take back out of a dead working folder's parent what its rollback list names: only the
    very files (device and inode) it moved there, by plain names, so a planted list can remove
    nothing else."""
    try:
        with open(os.path.join(workdir, _ROLLBACK), "rb") as f:
            if os.fstat(f.fileno()).st_size > _MAX_JOURNAL_BYTES:
                return
            entries: Any = json.loads(f.read())
    except (OSError, ValueError, RecursionError):
        return
    parent = os.path.dirname(workdir)
    for entry in entries if isinstance(entries, list) else []:
        if not (isinstance(entry, list) and len(entry) == 3):
            continue
        name, dev, ino = entry
        if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\0" in name:
            continue
        target = os.path.join(parent, name)
        try:
            st = os.lstat(target)
            if (st.st_dev, st.st_ino) != (dev, ino):
                continue
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(target)
            else:
                os.unlink(target)
        except OSError:
            continue


def _remove_if_old(path: str) -> None:
    """Remove a working folder an older factdeck left: one of ours (a folder, not a link, owned
    by this user) untouched for a day. Those versions held no lock, so age is the only sign."""
    try:
        st = os.lstat(path)
        if (
            stat.S_ISDIR(st.st_mode)
            and st.st_uid == os.getuid()
            and time.time() - st.st_mtime > OLD_WORKDIR_AGE
        ):
            shutil.rmtree(path, ignore_errors=True)
    except OSError:
        pass


def _remove_stale_workdirs() -> None:
    folder = tempfile.gettempdir()
    for path in _listing(folder, _WORKDIR):
        _remove_if_stale(path)
    for path in _listing(folder, _OLD_WORKDIR):
        _remove_if_old(path)


@contextmanager
def private_workdir(folder: str | Path | None = None, purpose: str = "") -> Iterator[str]:
    """A new folder for this process's working files, locked while it lives, so that a later run
    can tell one left by a killed command (and remove it: ``recover``) from a live one's.

    In TMPDIR by default, named ``factdeck-[PURPOSE-]PID-TOKEN-N``; in another ``folder`` (to
    rename files from it into that folder) the name starts with a dot, to stay out of listings.
    """
    if not _PURPOSE.match(purpose):
        raise ValueError(f"purpose {purpose!r}: lowercase letters only")
    base = tempfile.gettempdir() if folder is None else os.fspath(folder)
    stem = ("" if folder is None else ".") + "factdeck-" + (f"{purpose}-" if purpose else "")
    with signals_deferred():
        while True:
            path = os.path.join(base, f"{stem}{process_tag()}-{next(_counter)}")
            os.mkdir(path, 0o700)
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            _lock_fd(fd)
            if _same_file(path, fd):
                break
            os.close(fd)
        st = os.fstat(fd)
        key = (st.st_dev, st.st_ino)
        _own_workdirs.add(key)
    try:
        yield path
    finally:
        with signals_deferred():
            shutil.rmtree(path, ignore_errors=True)
            _own_workdirs.discard(key)
            os.close(fd)
