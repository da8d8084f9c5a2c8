"""SIGINT, SIGTERM and SIGKILL at every step of a real build: the old outputs or the new ones,
never a mix, nothing left behind, and what a killed build leaves is removed by the next run.

Each build runs in a child process that pauses at one point of the pipeline (a function of
factdeck wrapped by the child script below) until the test has sent its signal and lets it go.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import SIMPLE_DECK

CHILD = r"""
import os, sys, time
point, go = sys.argv[1], sys.argv[2]

def pause():
    print("paused", flush=True)
    for _ in range(2400):
        if os.path.exists(go):
            return
        time.sleep(0.05)

def wrap(owner, name, when="after", nth=1):
    original = getattr(owner, name)
    calls = [0]
    def wrapped(*args, **kwargs):
        calls[0] += 1
        if when == "before" and calls[0] == nth:
            pause()
        result = original(*args, **kwargs)
        if when == "after" and calls[0] == nth:
            pause()
        return result
    setattr(owner, name, wrapped)

import factdeck.build as build, factdeck.output as output, factdeck.shards as shards
import factdeck.ankifiles.package as package, factdeck.ankifiles.zipwriter as zipwriter
kind, _, n = point.partition(":")
if kind == "compile":
    wrap(build, "compile_deck", "before")
elif kind == "collection":
    wrap(package, "write_collection", nth=int(n or 1))
elif kind == "zip":
    wrap(zipwriter, "_deflate", nth=int(n or 1))
elif kind == "staged":
    wrap(output.Staging, "commit", "before")
elif kind == "journal":
    wrap(output.Staging, "_write_journals")
elif kind == "rename":  # after the n-th rename of an output (journals' own renames not counted)
    real, count = os.replace, [0]
    def replace(src, dst):
        real(src, dst)
        if not os.path.basename(dst).startswith(".factdeck-commit-"):
            count[0] += 1
            if count[0] == int(n):
                pause()
    output.os.replace = replace
elif kind == "shards":  # the parent, reading its own piece while the forked child reads the other
    parent = os.getpid()
    real_fork = os.fork
    def fork():
        pid = real_fork()
        if pid:
            print(f"child {pid}", flush=True)
        return pid
    os.fork = fork  # workers.py forks the child
    real_piece = shards._compile_piece
    def piece(*args):
        if os.getpid() == parent:
            pause()
        return real_piece(*args)
    shards._compile_piece = piece
sys.argv = ["factdeck", *sys.argv[3:]]
from factdeck.cli import main
main()
"""

BEFORE_COMMIT = ["compile", "collection:1", "collection:2", "zip:1", "zip:3", "staged"]
DURING_COMMIT = ["journal", "rename:1", "rename:2", "rename:3"]
SDE = "1700000000"


class Project:
    """Two decks in decks/, built into dist/, with TMPDIR of its own; an old build made,
    the decks edited, and the new pair a complete build of the edits gives."""

    def __init__(self, root: Path):
        self.root = root
        self.tmp = root / "tmp"
        self.tmp.mkdir()
        self.env = {**os.environ, "TMPDIR": str(self.tmp), "SOURCE_DATE_EPOCH": SDE}
        self.write(SIMPLE_DECK, SIMPLE_DECK.replace("id: demo", "id: other"))
        assert self.factdeck("build", "-q", "decks").returncode == 0
        self.old = self.state()
        self.write(
            SIMPLE_DECK.replace("Tizanidine\n", "Tizanidine (edited)\n"),
            SIMPLE_DECK.replace("id: demo", "id: other").replace("GABA-B receptor", "GABA-B (edited)"),
        )
        twin = root / "twin"
        shutil.copytree(root / "decks", twin / "decks")
        env = {**self.env, "TMPDIR": str(twin)}
        subprocess.run(
            [sys.executable, "-m", "factdeck", "build", "-q", "decks"], cwd=twin, env=env, check=True
        )
        self.new = self.state(twin)

    def write(self, a: str, b: str) -> None:
        (self.root / "decks").mkdir(exist_ok=True)
        (self.root / "decks" / "a.yaml").write_text(a, encoding="utf-8")
        (self.root / "decks" / "b.yaml").write_text(b, encoding="utf-8")

    def factdeck(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "factdeck", *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
        )

    def state(self, root: Path | None = None) -> dict[str, bytes]:
        root = root or self.root
        names = ["dist/demo.apkg", "dist/other.apkg", "decks/a.lock", "decks/b.lock"]
        return {n: (root / n).read_bytes() for n in names}

    def litter(self) -> list[str]:
        """Every file that is neither an input nor an output."""
        expected = {"decks/a.yaml", "decks/b.yaml", *self.old}
        found = []
        for folder in ("decks", "dist", "tmp"):
            for path in (self.root / folder).rglob("*"):
                rel = path.relative_to(self.root).as_posix()
                if rel not in expected:
                    found.append(rel)
        return found

    def start(self, point: str, *args: str, group: bool = False) -> subprocess.Popen[str]:
        """``group``: in a process group of its own, as a terminal's foreground job is."""
        self.go = self.root / "go"
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, point, str(self.go), *args],
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=group,
        )
        line = proc.stdout.readline()
        while line.startswith("child "):
            self.children = [*getattr(self, "children", []), int(line.split()[1])]
            line = proc.stdout.readline()
        assert line == "paused\n", proc.communicate()
        return proc


@pytest.fixture
def project(tmp_path):
    return Project(tmp_path)


@pytest.mark.parametrize("point", BEFORE_COMMIT + DURING_COMMIT)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_an_interrupted_build_leaves_the_old_or_the_new_outputs_and_nothing_else(project, point, signum):
    proc = project.start(point, "build", "decks")
    proc.send_signal(signum)
    project.go.touch()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert err == "factdeck: interrupted\n"
    # a commit under way is finished first; before it, nothing was touched
    assert project.state() == (project.new if point in DURING_COMMIT else project.old)
    project.go.unlink()
    assert project.litter() == []


@pytest.mark.parametrize("point", BEFORE_COMMIT + DURING_COMMIT)
def test_what_a_killed_build_leaves_is_finished_or_removed_by_the_next_run(project, point):
    proc = project.start(point, "build", "decks")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    project.go.touch()
    if point in BEFORE_COMMIT:
        assert project.state() == project.old
    # `build --locked` writes nothing when a lock is stale: it passes here only if the killed
    # build's commit was finished (all locks new) or never started (then it is stale: exit 1)
    locked = project.factdeck("build", "--locked", "-q", "decks")
    if point in DURING_COMMIT:
        assert locked.returncode == 0, locked.stderr
        assert project.state() == project.new
    else:
        assert locked.returncode == 1 and project.state() == project.old
        assert project.factdeck("build", "-q", "decks").returncode == 0
        assert project.state() == project.new
    project.go.unlink()
    assert project.litter() == []


def test_a_cut_commit_is_rolled_forward_before_anything_else(project):
    """Killed between renames, the files on disk are a mix; the next run finishes the commit."""
    from factdeck.output import recover

    proc = project.start("rename:1", "build", "decks")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    mixed = project.state()
    assert mixed not in (project.old, project.new)
    # the locks go first: a cut leaves new locks beside old packages, never the reverse
    assert mixed["dist/demo.apkg"] == project.old["dist/demo.apkg"]
    assert mixed["decks/a.lock"] == project.new["decks/a.lock"]
    recover([project.root / "decks", project.root / "dist"])
    assert project.state() == project.new
    assert project.litter() == []


def test_the_cleanup_of_a_next_build_never_touches_a_live_build(project):
    proc = project.start("zip:1", "build", "decks")  # mid-write: temp files beside outputs, TMPDIR in use
    live = project.litter()
    assert any(name.startswith("tmp/factdeck-") for name in live)
    assert any(name.endswith(".tmp") for name in live)
    other = project.root / "decks2"
    other.mkdir()
    (other / "c.yaml").write_text(SIMPLE_DECK.replace("id: demo", "id: third"), encoding="utf-8")
    assert project.factdeck("build", "-q", "decks2").returncode == 0  # also writes into dist/
    assert set(live) <= set(project.litter())
    project.go.touch()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert project.state() == project.new


@pytest.mark.parametrize(
    ("signum", "group"),
    [(signal.SIGTERM, False), (signal.SIGINT, False), (signal.SIGINT, True), (signal.SIGTERM, True)],
    ids=["sigterm", "sigint", "ctrl-c-to-the-job", "sigterm-to-the-job"],
)
def test_an_interrupt_while_a_large_deck_is_read_on_two_cores_ends_the_child_too(tmp_path, signum, group):
    """To the parent alone, or (as Ctrl-C in a terminal) to the parent and its child at once."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from bench_build import generate

    generate(tmp_path / "big.yaml", 8000)  # past shards.MIN_BYTES: the notes are read in two processes
    (tmp_path / "tmp").mkdir()
    project = Project.__new__(Project)
    project.root, project.env = tmp_path, {**os.environ, "TMPDIR": str(tmp_path / "tmp")}
    proc = project.start("shards", "build", "big.yaml", "-o", "big.apkg", group=group)
    assert project.children
    if group:
        os.killpg(proc.pid, signum)
    else:
        proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert (proc.returncode, err) == (130, "factdeck: interrupted\n")
    for pid in project.children:  # killed and reaped before the parent left
        assert not Path(f"/proc/{pid}").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.yaml", "tmp"]
    assert list((tmp_path / "tmp").iterdir()) == []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has ended: only its reaping is left


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
def test_sigkill_of_a_build_reading_on_two_cores_ends_the_child_at_once(tmp_path):
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from bench_build import generate

    generate(tmp_path / "big.yaml", 40000)  # the child's piece takes seconds: longer than we wait
    (tmp_path / "tmp").mkdir()
    project = Project.__new__(Project)
    project.root, project.env = tmp_path, {**os.environ, "TMPDIR": str(tmp_path / "tmp")}
    proc = project.start("shards", "build", "big.yaml", "-o", "big.apkg")
    assert project.children
    proc.kill()
    proc.wait(timeout=60)  # not communicate(): the child holds the same pipes until it ends
    for _ in range(20):
        if not any(_alive(pid) for pid in project.children):
            break
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in project.children)
    proc.stdout.close()
    proc.stderr.close()


def test_diff_of_a_package_whose_commit_was_cut_reads_the_finished_commit(project):
    proc = project.start("rename:3", "build", "decks")  # both locks and demo.apkg renamed, other.apkg not
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert project.state()["dist/other.apkg"] == project.old["dist/other.apkg"]
    diff = project.factdeck("diff", "dist/other.apkg", "decks/b.yaml")
    assert diff.returncode == 0, diff.stderr
    assert "0 added, 0 changed, 0 removed" in diff.stdout  # it read the new package
    assert project.state() == project.new
    project.go.touch()
    project.go.unlink()
    assert project.litter() == []


def test_a_planted_journal_can_do_no_more_than_finish_a_factdeck_commit(project):
    """A journal is a file in a checkout like any other: it must not move arbitrary files."""
    decks, root = project.root / "decks", project.root
    (decks / "secret.txt").write_text("secret")
    (root / "victim.txt").write_text("victim")
    planted_temp = decks / ".a.yaml.factdeck-1-aaaaaaaaaaaa-0.tmp"
    planted_temp.write_text("planted")
    before = {p: p.read_bytes() for p in [decks / "a.yaml", decks / "secret.txt", root / "victim.txt"]}
    journals = {
        "1-aaaaaaaaaaaa": [[str(decks / "secret.txt"), str(root / "victim.txt")]],  # across folders
        "2-bbbbbbbbbbbb": [[str(decks / "secret.txt"), str(decks / "a.yaml")]],  # not a temporary name
        "3-cccccccccccc": [[str(planted_temp), str(decks / "b.yaml")]],  # a temporary name of another file
        "4-dddddddddddd": [["secret.txt", "victim.txt"]],  # relative
    }
    for tag, renames in journals.items():
        (decks / f".factdeck-commit-{tag}.json").write_text(json.dumps({"renames": renames}))
    (decks / ".factdeck-commit-5-eeeeeeeeeeee.json").write_text("[" * 100_000)
    (decks / ".factdeck-commit-6-ffffffffffff.json").write_bytes(b"\xff\x00")
    result = project.factdeck("build", "-q", "decks")
    assert result.returncode == 0, result.stderr
    assert {p: p.read_bytes() for p in before} == before
    assert not list(decks.glob(".factdeck-commit-*"))
    assert not planted_temp.exists()  # an unlocked factdeck temporary file: left by a dead build


@pytest.mark.parametrize("point", ["compile", "staged", "rename:1"])
def test_an_interrupted_preview_leaves_the_old_site_or_the_new_one(project, point):
    assert project.factdeck("preview", "decks", "-o", "site").returncode == 0
    old = (project.root / "site/index.html").read_bytes()
    (project.root / "decks/a.yaml").write_text(SIMPLE_DECK.replace("Tizanidine\n", "Tizanidine (again)\n"))
    proc = project.start(point, "preview", "decks", "-o", "site")
    proc.send_signal(signal.SIGTERM)
    project.go.touch()
    _, err = proc.communicate(timeout=120)
    assert (proc.returncode, err) == (130, "factdeck: interrupted\n")
    assert sorted(p.name for p in (project.root / "site").iterdir()) == ["index.html"]
    new = (project.root / "site/index.html").read_bytes()
    assert (new == old) == (point != "rename:1")
    assert b"Tizanidine (again)" in new or point != "rename:1"


def test_concurrent_builds_of_one_deck_leave_a_package_and_lock_of_the_same_build(tmp_path):
    """Each build's commit holds the folders' locks and checks that the lock it read is still
    there: a build that lost the race fails (exit 1, saying why) instead of pairing its package
    with the other build's lock."""
    import sqlite3
    import zipfile

    decks = tmp_path / "decks"
    decks.mkdir()
    (decks / "a.yaml").write_text(SIMPLE_DECK)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "factdeck", "build", "-q", "decks"],
            cwd=tmp_path,
            env={**os.environ, "SOURCE_DATE_EPOCH": str(1700000000 + i * 1000)},
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(6)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 or "decks/a.lock: it changed while this build ran" in err, err
    lock_times = {
        int(line.split()[3])
        for line in (decks / "a.lock").read_text().splitlines()
        if line.startswith("note ")
    }
    with zipfile.ZipFile(tmp_path / "dist/demo.apkg") as zf:
        db = sqlite3.connect(":memory:")
        db.deserialize(zf.read("collection.anki2"))
    package_times = {mod for (mod,) in db.execute("select mod from notes")}
    assert len(lock_times) == 1 and package_times == lock_times
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.lock", "a.yaml", "decks", "demo.apkg", "dist"]


# --- interrupts while factdeck starts and ends -------------------------------------------------

PAUSE_AT_IMPORT = r"""
import atexit, os, sys, time
point = sys.argv[1]

def pause():
    print("paused", file=sys.stderr, flush=True)
    time.sleep(120)  # the signal comes while the process is here

class PauseAtImport:  # first on sys.meta_path: asked before each module is found
    def find_spec(self, name, path=None, target=None):
        if name == point:
            pause()
        return None

sys.meta_path.insert(0, PauseAtImport())
if point == "exit":
    atexit.register(pause)  # after the command, while Python shuts down
sys.argv = ["factdeck", *sys.argv[2:]]
import runpy
runpy.run_module("factdeck", run_name="__main__", alter_sys=True)  # as `python -m factdeck`
"""

# factdeck's own modules, and the libraries they import, as `factdeck check` imports them;
# markdown_it is imported while the command runs, on the first Markdown field
STARTUP_POINTS = ["factdeck.cli", "click", "factdeck.build", "yaml", "factdeck.validate", "factdeck.terminal"]


@pytest.mark.parametrize("point", [*STARTUP_POINTS, "markdown_it", "exit"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_while_factdeck_starts_or_ends_is_one_line_and_exit_130(tmp_path, point, signum):
    # a link: Markdown the emphasis fast path leaves to markdown_it
    deck = SIMPLE_DECK.replace("A *small* demo deck", "A [small](https://example.org) demo deck")
    assert deck != SIMPLE_DECK
    (tmp_path / "a.yaml").write_text(deck, encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-c", PAUSE_AT_IMPORT, point, "check", "a.yaml"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr.readline() == "paused\n", proc.communicate()
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (130, "factdeck: interrupted\n")
    if point == "exit":
        assert "1 deck" in out  # the command had finished and printed everything


STARTED = r"""
import sys
from factdeck.entry import exit_now, handle, main
handle(exit_now)  # what main() does first: "started" must not open a window the real command lacks
print("started", file=sys.stderr, flush=True)
sys.argv = ["factdeck", *sys.argv[1:]]
main()
"""


def test_ctrl_c_at_any_moment_after_factdeck_starts_is_exit_130_without_a_traceback(tmp_path):
    """SIGINT at delays from the first line of factdeck's entry point to the end of a command.

    Before that line Python itself starts (and may print a traceback for a KeyboardInterrupt
    while it imports `site`): no code of factdeck's can run there. An interrupt that comes
    once the command is over may find the process already gone (exit 0, everything printed).
    """
    (tmp_path / "a.yaml").write_text(SIMPLE_DECK, encoding="utf-8")
    outcomes = []
    for delay in (0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.8, 1.2):
        proc = subprocess.Popen(
            [sys.executable, "-c", STARTED, "check", "a.yaml"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr.readline() == "started\n"
        if delay:
            time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert "Traceback" not in err and "Exception ignored" not in err, (delay, err)
        if proc.returncode in (0, -signal.SIGINT):
            # the command was over: exit 0, or (in Python's own shutdown, which restores the
            # default action) ended by the signal, which a shell reports as 130 too
            assert err == "" and "1 deck" in out, (delay, out, err)
        else:
            assert (proc.returncode, err) == (130, "factdeck: interrupted\n"), (delay, proc.returncode, err)
        outcomes.append(proc.returncode)
    assert outcomes[:8] == [130] * 8  # the first 0.1 s are all startup imports


FORK_SIGNAL = r"""
import os, signal, sys
from factdeck import workers
os.register_at_fork(after_in_child=lambda: os.kill(os.getpid(), int(sys.argv[1])))
print(workers.Worker(lambda: b"done").result().decode())
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_job_while_the_child_is_being_forked_is_held_until_the_child_s_own_handlers(signum):
    """Ctrl-C reaches the parent and its child at once: in the child's first moments (Python's
    after-fork hooks, simulated here by one that signals the child) it had the parent's
    handlers, and printed a traceback; now the child ignores SIGINT and dies of SIGTERM."""
    done = subprocess.run(
        [sys.executable, "-c", FORK_SIGNAL, str(int(signum))], capture_output=True, text=True
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == ("done\n" if signum == signal.SIGINT else "\n")  # b"": the caller does the job
