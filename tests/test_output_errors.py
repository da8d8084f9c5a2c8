"""Outputs commit together or not at all; outputs never overwrite inputs; what the system
refuses (space, memory, file names, hostile lock files and times) is an error, never a crash."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import SIMPLE_DECK
from factdeck.lock import lock_path

OTHER_DECK = SIMPLE_DECK.replace("id: demo", "id: other")


def _edit(text: str) -> str:
    return text.replace("Tizanidine\n", "Tizanidine (edited)\n")


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@contextlib.contextmanager
def _mounted_tmpfs(folder: Path, size: str):
    """A tiny file system at ``folder``, to fill up; skipped where mounting is not allowed."""
    folder.mkdir(parents=True, exist_ok=True)
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
    ).returncode:
        pytest.skip("mounting a small tmpfs needs root (it is how a full disk is made here)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@contextlib.contextmanager
def _read_only(folder: Path):
    """``folder`` made unwritable: by mode for a user, by a read-only bind mount for root."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    if subprocess.run(
        ["mount", "--bind", "-o", "ro", str(folder), str(folder)], capture_output=True
    ).returncode:
        pytest.skip("root cannot make a folder read-only here without a bind mount")
    try:
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def _factdeck(*args, cwd, env=None, timeout=120):
    env = {**os.environ, "LC_ALL": "C.UTF-8", **(env or {})}
    env.pop("PYTHONIOENCODING", None)
    return subprocess.run(
        [sys.executable, "-m", "factdeck", *map(os.fsdecode, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=timeout,
    )


# --- nothing is written unless everything is ------------------------------------------------


def test_a_later_package_that_cannot_be_written_leaves_every_output_as_it_was(tmp_path, run, monkeypatch):
    (tmp_path / "decks").mkdir()
    a, b = tmp_path / "decks/a.yaml", tmp_path / "decks/b.yaml"
    a.write_text(SIMPLE_DECK)
    b.write_text(OTHER_DECK)
    monkeypatch.chdir(tmp_path)
    assert run("build", "decks").exit_code == 0
    a.write_text(_edit(SIMPLE_DECK))
    b.write_text(_edit(OTHER_DECK))
    (tmp_path / "dist/other.apkg").unlink()
    (tmp_path / "dist/other.apkg").mkdir()  # a folder in the way of the second package
    before = _files(tmp_path)
    result = run("build", "decks")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "dist/other.apkg: error: cannot write dist/other.apkg: a folder is in the way"
    )
    assert ".tmp" not in result.stderr and "factdeck-" not in result.stderr
    assert _files(tmp_path) == before  # demo.apkg and both locks untouched, no temporary file


def test_a_lock_folder_that_cannot_be_written_leaves_the_packages_as_they_were(tmp_path, run, monkeypatch):
    deck = tmp_path / "decks/a.yaml"
    deck.parent.mkdir()
    deck.write_text(SIMPLE_DECK)
    monkeypatch.chdir(tmp_path)
    assert run("build", "decks").exit_code == 0
    deck.write_text(_edit(SIMPLE_DECK))
    before = _files(tmp_path)
    with _read_only(tmp_path / "decks"):
        result = run("build", "decks")
    assert result.exit_code == 1
    assert result.stderr.startswith("decks/a.lock: error: cannot write decks/a.lock: ")
    assert ".tmp" not in result.stderr
    assert _files(tmp_path) == before


def test_a_full_output_disk_names_the_package_and_leaves_nothing(write_deck, tmp_path):
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from bench_build import generate

    generate(tmp_path / "big.yaml", 3000)
    with _mounted_tmpfs(tmp_path / "small", "200k") as small:
        result = _factdeck("build", "big.yaml", "-o", small / "big.apkg", cwd=tmp_path)
        assert result.returncode == 1
        assert f"cannot write {small}/big.apkg: No space left on device" in result.stderr.decode()
        assert list(small.iterdir()) == []
    assert not lock_path(tmp_path / "big.yaml").exists()


def test_a_full_tmpdir_names_the_package_and_the_temporary_folder(write_deck, tmp_path):
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from bench_build import generate

    generate(tmp_path / "big.yaml", 3000)
    with _mounted_tmpfs(tmp_path / "tmp", "200k") as tmp:
        result = _factdeck("build", "big.yaml", "-o", "big.apkg", cwd=tmp_path, env={"TMPDIR": str(tmp)})
        assert result.returncode == 1, result.stderr
        assert result.stderr.decode().startswith(
            f"big.apkg: error: cannot write big.apkg: no space left in the temporary folder {tmp} (set TMPDIR"
        )
        assert list(tmp.iterdir()) == []
    assert not (tmp_path / "big.apkg").exists()


# --- an output is never an input --------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["x.apkg", "-o", "x.apkg"],
        ["x.apkg", "-o", "./x.apkg"],
        ["./sub/../x.apkg", "-o", "x.apkg"],
        ["x.apkg", "-o", "link.apkg"],  # a symlink to the deck
        ["x.apkg", "-o", "hard.apkg"],  # a hard link to the deck
    ],
)
def test_an_output_that_is_an_input_is_a_usage_error(tmp_path, run, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "x.apkg").write_text(SIMPLE_DECK)
    (tmp_path / "link.apkg").symlink_to("x.apkg")
    os.link(tmp_path / "x.apkg", tmp_path / "hard.apkg")
    result = run("build", *args)
    assert result.exit_code == 2
    assert "is the deck file" in result.stderr
    assert (tmp_path / "x.apkg").read_text() == SIMPLE_DECK and not (tmp_path / "x.lock").exists()


def test_a_package_in_dist_that_is_a_deck_given_is_a_usage_error(tmp_path, run, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist/demo.apkg").write_text(SIMPLE_DECK)  # deck id demo: its package is dist/demo.apkg
    result = run("build", "dist/demo.apkg")
    assert result.exit_code == 2 and "is the deck file dist/demo.apkg" in result.stderr
    assert (tmp_path / "dist/demo.apkg").read_text() == SIMPLE_DECK


@pytest.mark.parametrize("decks", [["notes.lock"], ["a.yaml", "a.lock"]])
def test_a_lock_file_that_is_a_deck_file_is_a_usage_error(tmp_path, run, monkeypatch, decks):
    monkeypatch.chdir(tmp_path)
    for i, name in enumerate(decks):
        (tmp_path / name).write_text(SIMPLE_DECK.replace("id: demo", f"id: d{i}"))
    result = run("build", *decks, "-o", "out.apkg")
    assert result.exit_code == 2 and "the lock file of" in result.stderr
    assert all((tmp_path / n).read_text().startswith("deck:") for n in decks)
    assert not (tmp_path / "out.apkg").exists()


def test_a_preview_page_that_would_overwrite_a_deck_file_is_a_usage_error(tmp_path, run, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "site").mkdir()
    (tmp_path / "site/index.html").write_text(SIMPLE_DECK)
    result = run("preview", "site/index.html", "-o", "site")
    assert result.exit_code == 2 and "is the deck file" in result.stderr
    assert (tmp_path / "site/index.html").read_text() == SIMPLE_DECK


# --- times -------------------------------------------------------------------------------------

NOTE_LINE = "note baclofen-moa 0123456789abcdef {time} {added}\n"


@pytest.mark.parametrize(
    "time",
    [
        "4354819200",
        "99999999999999999999999999",
        pytest.param("9" * 5000, id="5000-digits"),
        "-1",
        "1e9",
        "1_700_000_000",
        "\u0661\u0667",
    ],
)
def test_a_lock_time_a_package_cannot_hold_is_a_located_error(write_deck, tmp_path, run, time):
    deck = write_deck(SIMPLE_DECK)
    lock_path(deck).write_text("# lock\n" + NOTE_LINE.format(time=time, added=1700000000))
    result = run("build", deck, "-o", tmp_path / "a.apkg")
    assert result.exit_code == 1
    assert "deck.lock:2:1: error: lock file deck.lock has a" in result.stderr
    assert not (tmp_path / "a.apkg").exists()


def test_a_lock_time_at_the_last_zip_second_builds_and_dates_the_package_2107(write_deck, tmp_path, run):
    deck = write_deck(SIMPLE_DECK)
    assert (
        run("build", deck, "-o", tmp_path / "a.apkg", env={"SOURCE_DATE_EPOCH": "4354819199"}).exit_code == 0
    )
    with zipfile.ZipFile(tmp_path / "a.apkg") as zf:
        assert zf.infolist()[0].date_time[0] == 2107
    deck.write_text(_edit(SIMPLE_DECK))  # the edited note's time would have to pass 2107
    result = run("build", deck, "-o", tmp_path / "b.apkg", env={"SOURCE_DATE_EPOCH": "4354819199"})
    assert (
        result.exit_code == 1
        and "deck.lock: error: a note's next time would pass the end of 2107" in result.stderr
    )


@pytest.mark.parametrize(
    "value",
    [
        "4354819200",
        "-5",
        "99999999999999999999",
        "1e9",
        "1_700_000_000",
        "\u0661\u0667",
        pytest.param("9" * 5000, id="5000-digits"),
    ],
)
def test_a_source_date_epoch_a_package_cannot_hold_is_a_usage_error(write_deck, tmp_path, run, value):
    result = run(
        "build", write_deck(SIMPLE_DECK), "-o", tmp_path / "a.apkg", env={"SOURCE_DATE_EPOCH": value}
    )
    assert result.exit_code == 2
    assert "SOURCE_DATE_EPOCH must be whole seconds since 1970" in result.stderr


# --- hostile lock files ----------------------------------------------------------------------

HOSTILE_LOCKS = {
    "nested JSON": b"notetype basic 0123 1700000000 " + b"[" * 100_000 + b"\n",
    "nested JSON closed": b"notetype basic 0123 1700000000 " + b"[" * 50_000 + b"]" * 50_000 + b"\n",
    "NUL in an id": b"note baclofen\x00moa 0123 1700000000 1700000000\n",
    "escape in an id": b"note \x1b[2Jgone 0123 1700000000 1700000000\n",
    "escape in a field": b'notetype basic 0123 1700000000 ["\\u001b[2J"]\n',
    "not UTF-8": b"note baclofen-moa 0123 1700000000 1700000000\nnote caf\xe9 0123 1 1\n",
    "a giant line": b"note " + b"x" * 5_000_000 + b"\n",
    "a giant number": b"note baclofen-moa 0123 " + b"9" * 100_000 + b" 1\n",
    "a lone surrogate": b'notetype basic 0123 1700000000 ["\\ud800"]\n',
}


@pytest.mark.parametrize("content", HOSTILE_LOCKS.values(), ids=HOSTILE_LOCKS.keys())
def test_hostile_lock_content_is_a_located_error(write_deck, tmp_path, run, content):
    deck = write_deck(SIMPLE_DECK)
    lock_path(deck).write_bytes(content)
    result = run("build", deck, "-o", tmp_path / "a.apkg")
    assert result.exit_code == 1, result.output
    line = content[: content.find(b"\xe9")].count(b"\n") + 1 if b"\xe9" in content else 1
    assert f"deck.lock:{line}:1: error: lock file deck.lock " in result.stderr
    assert "\x1b" not in result.stderr
    assert not (tmp_path / "a.apkg").exists()


@pytest.mark.parametrize("kind", ["note", "notetype"])
def test_an_entry_a_lock_lists_twice_is_an_error_at_its_second_line(write_deck, tmp_path, run, kind):
    """A hand-merged lock can list a note twice; keeping either line silently could move the
    note's time backwards, and Anki would then ignore its next updates."""
    deck = write_deck(SIMPLE_DECK)
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    assert run("build", deck, "-o", tmp_path / "a.apkg", env=env).exit_code == 0
    lines = lock_path(deck).read_text().splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if line.startswith(f"{kind} "))
    repeated = lines[first].replace(" 1700000000 ", " 1800000000 ", 1)
    lock_path(deck).write_text("".join([*lines[: first + 1], repeated, *lines[first + 1 :]]))
    result = run("build", deck, "-o", tmp_path / "b.apkg", env=env)
    assert result.exit_code == 1, result.output
    key = lines[first].split()[1]
    assert (
        f"deck.lock:{first + 2}:1: error: lock file deck.lock lists {kind} `{key}` twice "
        f"(lines {first + 1} and {first + 2})" in result.stderr
    )
    assert not (tmp_path / "b.apkg").exists()


def test_a_lock_that_starts_with_a_byte_order_mark_is_read(write_deck, tmp_path, run):
    deck = write_deck(SIMPLE_DECK)
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    assert run("build", deck, "-o", tmp_path / "a.apkg", env=env).exit_code == 0
    plain = lock_path(deck).read_bytes()
    lock_path(deck).write_bytes(b"\xef\xbb\xbf" + plain)
    result = run("build", deck, "-o", tmp_path / "b.apkg", env={"SOURCE_DATE_EPOCH": "1800000000"})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "a.apkg").read_bytes() == (tmp_path / "b.apkg").read_bytes()


def test_a_lock_with_windows_line_ends_is_read(write_deck, tmp_path, run):
    deck = write_deck(SIMPLE_DECK)
    assert (
        run("build", deck, "-o", tmp_path / "a.apkg", env={"SOURCE_DATE_EPOCH": "1700000000"}).exit_code == 0
    )
    lf = lock_path(deck).read_bytes()
    lock_path(deck).write_bytes(lf.replace(b"\n", b"\r\n"))
    result = run("build", deck, "-o", tmp_path / "b.apkg", env={"SOURCE_DATE_EPOCH": "1800000000"})
    assert result.exit_code == 0 and "new" not in result.stdout and "changed" not in result.stdout
    assert (tmp_path / "a.apkg").read_bytes() == (tmp_path / "b.apkg").read_bytes()
    assert lock_path(deck).read_bytes() == lf


def test_a_lock_that_is_a_fifo_is_an_error_not_a_hang(write_deck, tmp_path):
    deck = write_deck(SIMPLE_DECK)
    os.mkfifo(lock_path(deck))
    result = _factdeck("build", deck, "-o", tmp_path / "a.apkg", cwd=tmp_path, timeout=60)
    assert result.returncode == 1
    assert "deck.lock: error: cannot read lock file" in result.stderr.decode()
    assert "not a regular file" in result.stderr.decode()


# --- file names that are not UTF-8 -------------------------------------------------------------


def test_file_names_that_are_not_utf8_are_shown_escaped_in_every_command(tmp_path):
    folder = os.fsdecode(b"f\xfe")
    (tmp_path / folder).mkdir()
    good = tmp_path / folder / os.fsdecode(b"d\xff.yaml")
    good.write_text(SIMPLE_DECK)
    bad = tmp_path / folder / os.fsdecode(b"e\xff.yaml")
    bad.write_text(SIMPLE_DECK.replace("id: demo", "id: other").replace("front:", "frnt:", 1))
    shown_bad = "f\\xfe/e\\xff.yaml"

    for fmt in ("text", "json", "github"):
        r = _factdeck("check", folder, "--format", fmt, cwd=tmp_path)
        out = (r.stdout + r.stderr).decode("utf-8")  # strict: what reached the terminal is UTF-8
        assert r.returncode == 1 and shown_bad in out.replace("\\\\", "\\") and "Traceback" not in out, out
        if fmt == "json":
            assert {d["path"] for d in json.loads(r.stdout)} == {shown_bad}
    r = _factdeck("build", folder, cwd=tmp_path)
    assert r.returncode == 1 and shown_bad in r.stderr.decode("utf-8")
    bad.unlink()
    out_name = os.fsdecode(b"out\xff.apkg")
    r = _factdeck("build", folder, "-o", out_name, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "-> out\\xff.apkg" in r.stdout.decode("utf-8")
    r = _factdeck("stats", folder, "--format", "json", cwd=tmp_path)
    assert r.returncode == 0 and json.loads(r.stdout)["decks"][0]["path"] == "f\\xfe/d\\xff.yaml"
    assert _factdeck("stats", folder, cwd=tmp_path).returncode == 0
    for fmt in ("text", "json"):
        r = _factdeck("diff", out_name, folder, "--format", fmt, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        r.stdout.decode("utf-8")
    site = os.fsdecode(b"site\xfd")
    r = _factdeck("preview", folder, "-o", site, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "site\\xfd/index.html" in r.stdout.decode("utf-8")
    (tmp_path / site / "index.html").read_bytes().decode("utf-8")  # valid UTF-8


# --- out of memory -----------------------------------------------------------------------------

LIMITED = r"""
import resource, sys
import factdeck.cli, factdeck.build, factdeck.ankifiles.package, factdeck.preview, factdeck.stats
size = int([l for l in open("/proc/self/status") if l.startswith("VmSize")][0].split()[1]) * 1024
limit = size + (int(sys.argv[1]) << 20)
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
sys.argv = ["factdeck", *sys.argv[2:]]
factdeck.cli.main()
"""


@pytest.fixture(scope="module")
def huge_deck(tmp_path_factory):
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from bench_build import generate

    folder = tmp_path_factory.mktemp("huge")
    generate(folder / "huge.yaml", 20_000)
    return folder


@pytest.mark.parametrize(
    "command", [["check"], ["stats"], ["build", "-o", "huge.apkg"], ["preview", "-o", "site"]]
)
def test_running_out_of_memory_reading_a_deck_names_it(huge_deck, command):
    r = subprocess.run(
        [sys.executable, "-c", LIMITED, "8", command[0], "huge.yaml", *command[1:]],
        cwd=huge_deck,
        capture_output=True,
        text=True,
    )
    assert (r.returncode, r.stderr) == (
        1,
        "huge.yaml: error: out of memory while reading this file\n1 error\n",
    )


@pytest.mark.parametrize("megabytes", [12, 16, 20, 25, 30, 40, 55, 70, 85])
def test_running_out_of_memory_anywhere_in_a_build_is_one_message_and_exit_1(huge_deck, megabytes):
    """Wherever the limit bites (reading, SQLite, threads, deflate), never a crash or a partial file."""
    r = subprocess.run(
        [sys.executable, "-c", LIMITED, str(megabytes), "build", "huge.yaml", "-o", "out.apkg"],
        cwd=huge_deck,
        capture_output=True,
        text=True,
    )
    if r.returncode == -signal.SIGABRT and "memory allocation of" in r.stderr:
        # nh3's Rust code aborts the process when an allocation fails: nothing can catch that.
        # What it leaves (a working folder, temporary files) the next run must remove.
        (huge_deck / "huge.yaml").touch()
        assert (
            subprocess.run(
                [sys.executable, "-m", "factdeck", "build", "-q", "huge.yaml", "-o", "o.apkg"], cwd=huge_deck
            ).returncode
            == 0
        )
        assert not [p for p in huge_deck.iterdir() if p.name.startswith(".")]
        (huge_deck / "o.apkg").unlink()
        lock_path(huge_deck / "huge.yaml").unlink(missing_ok=True)
        pytest.xfail("the HTML sanitiser (nh3, Rust) aborts when memory runs out")
    assert r.returncode in (0, 1), r.stderr
    if r.returncode == 1:
        assert "out of memory" in r.stderr, r.stderr
        assert any(name in r.stderr for name in ("huge.yaml", "huge.lock", "out.apkg")), r.stderr
        assert not (huge_deck / "out.apkg").exists()
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    assert not [p for p in huge_deck.iterdir() if p.name.startswith(".")]
    (huge_deck / "out.apkg").unlink(missing_ok=True)
    lock_path(huge_deck / "huge.yaml").unlink(missing_ok=True)


def test_a_failed_build_removes_the_folders_it_made_for_its_outputs(write_deck, tmp_path, run, monkeypatch):
    from factdeck.ankifiles import zipwriter

    def no_space(source):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(zipwriter, "_deflate", no_space)
    result = run("build", write_deck(SIMPLE_DECK), "-o", tmp_path / "new/sub/x.apkg")
    assert result.exit_code == 1 and "No space left on device" in result.stderr
    assert not (tmp_path / "new").exists()


def test_an_output_name_near_the_file_system_limit_is_written(write_deck, tmp_path, run):
    name = "n" * 249 + ".apkg"  # 254 bytes: its temporary name must be shortened to fit
    assert run("build", write_deck(SIMPLE_DECK), "-o", tmp_path / name).exit_code == 0
    assert zipfile.ZipFile(tmp_path / name).testzip() is None
