"""A failed, killed or concurrent build never leaves a broken package behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from conftest import SIMPLE_DECK
from factdeck.ankifiles import zipwriter


def _package_ok(path) -> bool:
    with zipfile.ZipFile(path) as zf:
        return zf.testzip() is None and "collection.anki2" in zf.namelist()


def test_failing_writer_leaves_the_old_package_and_no_temp_file(write_deck, tmp_path, run, monkeypatch):
    deck = write_deck(SIMPLE_DECK)
    out = tmp_path / "out" / "demo.apkg"
    assert run("build", deck, "-o", out).exit_code == 0
    before = out.read_bytes()
    lock_before = deck.with_suffix(".lock").read_bytes()
    deck.write_text(SIMPLE_DECK.replace("Tizanidine\n", "Tizanidine (edited)\n"), encoding="utf-8")

    def explode(source):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(zipwriter, "_deflate", explode)
    result = run("build", deck, "-o", out)
    assert result.exit_code == 1
    assert "No space left on device" in result.stderr
    assert out.read_bytes() == before
    assert deck.with_suffix(".lock").read_bytes() == lock_before  # the lock follows only a successful build
    assert os.listdir(out.parent) == ["demo.apkg"]


def test_killed_build_leaves_the_old_package_intact(write_deck, tmp_path):
    """SIGKILL a real build while it writes (slowed down on purpose) and look at what is left."""
    deck = write_deck(SIMPLE_DECK)
    out = tmp_path / "demo.apkg"
    subprocess.run([sys.executable, "-m", "factdeck", "build", str(deck), "-o", str(out)], check=True)
    before = out.read_bytes()
    deck.write_text(SIMPLE_DECK.replace("Tizanidine\n", "Tizanidine (edited)\n"), encoding="utf-8")
    slow = (
        "import sys, time, factdeck.ankifiles.zipwriter as z\n"
        "orig = z._deflate\n"
        "def slow(*a):\n"
        "    r = orig(*a); sys.stdout.write('writing\\n'); sys.stdout.flush(); time.sleep(30); return r\n"
        "z._deflate = slow\n"
        "sys.argv = ['factdeck', 'build', sys.argv[1], '-o', sys.argv[2]]\n"
        "from factdeck.cli import main; main()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", slow, str(deck), str(out)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "writing"  # mid-write now
    assert any(name.endswith(".tmp") for name in os.listdir(tmp_path))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert out.read_bytes() == before and _package_ok(out)


def test_concurrent_builds_to_one_output_give_a_whole_package(write_deck, tmp_path):
    decks = [write_deck(SIMPLE_DECK, f"d{i}/deck.yaml") for i in range(4)]
    out = tmp_path / "shared.apkg"
    procs = [
        subprocess.Popen([sys.executable, "-m", "factdeck", "build", "-q", str(d), "-o", str(out)])
        for d in decks
    ]
    assert [p.wait() for p in procs] == [0, 0, 0, 0]
    assert _package_ok(out)
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def test_package_past_the_plain_zip_limits_is_written_with_zip64(write_deck, tmp_path, run, monkeypatch):
    monkeypatch.setattr(zipwriter, "_LIMIT", 100)  # as if the collection were over 4 GiB
    deck = write_deck(SIMPLE_DECK)
    assert run("build", deck, "-o", tmp_path / "big.apkg").exit_code == 0
    assert _package_ok(tmp_path / "big.apkg")


def test_parallel_deflate_gives_one_valid_stream(tmp_path, monkeypatch):
    import zlib

    monkeypatch.setattr(zipwriter, "PARALLEL_MIN", 0)
    data = b"".join(f"row {i} {i * i} some text\n".encode() for i in range(200_000))
    path = tmp_path / "blob"
    path.write_bytes(data)
    crc, size, chunks = zipwriter._deflate(str(path))
    assert zlib.decompress(b"".join(chunks), -15) == data
    assert (crc, size) == (zlib.crc32(data), len(data))


def test_recover_removes_dead_commands_working_folders_and_keeps_live_and_foreign_ones(tmp_path, monkeypatch):
    from factdeck.output import private_workdir, recover

    tmp, decks = tmp_path / "tmp", tmp_path / "decks"
    tmp.mkdir()
    decks.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)
    dead = [  # what killed commands leave: nobody holds their locks
        tmp / "factdeck-1-aaaaaaaaaaaa-0",
        tmp / "factdeck-sync-1-aaaaaaaaaaaa-1",
        tmp / "factdeck-read-2-bbbbbbbbbbbb-0",
        decks / ".factdeck-import-3-cccccccccccc-7",
    ]
    foreign = [
        tmp / "factdeck-import-abcdefgh",  # not a name factdeck gives
        decks / ".factdeck-import-x3f9",
        decks / "factdeck-import-3-cccccccccccc",
        decks / ".factdeck-Import-3-cccccccccccc-7",
    ]
    for folder in dead + foreign:
        folder.mkdir()
        (folder / "inside.yaml").write_text("x")
    (decks / "link").symlink_to(tmp / "factdeck-import-abcdefgh")
    with private_workdir(decks, "import") as live_import, private_workdir(purpose="read") as live_read:
        assert os.path.basename(live_import).startswith(".factdeck-import-")
        assert os.path.basename(live_read).startswith("factdeck-read-")
        recover([decks])
        assert [p for p in dead if p.exists()] == []
        assert all(p.exists() for p in foreign)
        assert os.path.isdir(live_import) and os.path.isdir(live_read)
    assert not os.path.exists(live_import) and not os.path.exists(live_read)


def test_a_package_is_written_into_a_working_folder_of_the_same_process(write_deck, tmp_path):
    """A commit locks the folders it renames in; the working folder's lock is this process's own."""
    from factdeck.ankifiles import package
    from factdeck.build import check
    from factdeck.lock import Lock
    from factdeck.output import private_workdir

    deck = check([str(write_deck(SIMPLE_DECK))]).decks[0]
    lock = Lock({n.id: (n.hash, 1_700_000_000, 1_700_000_000) for n in deck.notes})
    with private_workdir(tmp_path) as work:
        package.write(Path(work) / "release.apkg", [package.Part(deck, lock)])
        assert _package_ok(Path(work) / "release.apkg")
