"""Long builds show progress on a terminal, and stay quiet in pipes and with --quiet."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.fixture
def big_deck(tmp_path):
    lines = ["deck:\n  id: big\n  name: Big\nnotes:\n"]
    for i in range(3_000):
        lines.append(
            f'  - id: n{i}\n    front: "Question number {i} about a drug {"x" * 700}"\n'
            f'    back: "Answer {i}"\n'
        )
    path = tmp_path / "big.yaml"
    path.write_text("".join(lines))
    assert path.stat().st_size > 2_000_000
    return path


def _run_on_terminal(args, cwd):
    """Run factdeck with stderr on a pseudo-terminal; return what the terminal showed."""
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "factdeck", *args],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=slave,
        env={**os.environ, "COLUMNS": "80"},
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait()
    os.close(master)
    return proc.returncode, b"".join(chunks).decode(errors="replace")


def test_progress_bar_on_a_terminal(big_deck, tmp_path):
    code, shown = _run_on_terminal(["build", str(big_deck), "-o", str(tmp_path / "b.apkg")], tmp_path)
    assert code == 0
    assert "building" in shown and "100%" in shown


def test_quiet_flag_silences_the_progress_bar(big_deck, tmp_path):
    code, shown = _run_on_terminal(["build", "-q", str(big_deck), "-o", str(tmp_path / "b.apkg")], tmp_path)
    assert code == 0 and shown.strip() == ""


def test_no_progress_bar_in_a_pipe(big_deck, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "factdeck", "build", str(big_deck), "-o", str(tmp_path / "b.apkg")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.startswith("big: 3000 notes")


def test_verbose_prints_per_file_timing(run, big_deck, tmp_path):
    result = run("build", "-v", big_deck, "-o", tmp_path / "b.apkg")
    stages = [line.split()[0] for line in result.stderr.splitlines()]
    assert stages == ["read", "write", "commit"]  # commit: renaming every output into place
    assert str(big_deck) in result.stderr
