"""Shell completion for bash, zsh and fish, through click.

To enable it, add one line to the shell's startup file:

    bash (~/.bashrc):                   eval "$(_FACTDECK_COMPLETE=bash_source factdeck)"
    zsh (~/.zshrc):                     eval "$(_FACTDECK_COMPLETE=zsh_source factdeck)"
    fish (~/.config/fish/completions/factdeck.fish):
                                        _FACTDECK_COMPLETE=fish_source factdeck | source

or, to start shells faster, save the script once and source the file instead, e.g.
`_FACTDECK_COMPLETE=bash_source factdeck > ~/.factdeck-complete.bash`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXECUTABLE = Path(sys.executable).parent / "factdeck"
FACTDECK = str(EXECUTABLE) if EXECUTABLE.exists() else shutil.which("factdeck")

pytestmark = pytest.mark.skipif(FACTDECK is None, reason="the factdeck command is not installed")


def factdeck(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run([FACTDECK], env={**os.environ, **env}, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    "shell, marker",
    [
        ("bash", "complete -o nosort -F _factdeck_completion factdeck"),
        ("zsh", "#compdef factdeck"),
        ("fish", 'complete --no-files --command factdeck --arguments "(_factdeck_completion)"'),
    ],
)
def test_installed_factdeck_prints_a_completion_script_for_each_shell(shell, marker):
    result = factdeck(_FACTDECK_COMPLETE=f"{shell}_source")
    assert result.returncode == 0, result.stderr
    assert marker in result.stdout
    assert "_FACTDECK_COMPLETE" in result.stdout and result.stderr == ""


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completion_script_is_valid_bash():
    script = factdeck(_FACTDECK_COMPLETE="bash_source").stdout
    result = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_completion_offers_the_commands_and_their_options():
    commands = factdeck(_FACTDECK_COMPLETE="bash_complete", COMP_WORDS="factdeck ", COMP_CWORD="1").stdout
    offered = {line.split(",", 1)[1] for line in commands.splitlines()}
    assert {"build", "check", "diff", "new", "schema", "stats"} <= offered
    options = factdeck(
        _FACTDECK_COMPLETE="bash_complete", COMP_WORDS="factdeck diff --", COMP_CWORD="2"
    ).stdout
    assert {"plain,--rev", "plain,--format"} <= set(options.splitlines())
    formats = factdeck(
        _FACTDECK_COMPLETE="bash_complete", COMP_WORDS="factdeck stats --format ", COMP_CWORD="3"
    ).stdout
    assert formats.splitlines() == ["plain,text", "plain,json"]
