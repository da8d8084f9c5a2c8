"""The pre-commit hooks a deck repository uses, run by the real `pre-commit` from PyPI.

pre-commit installs a hook repository by fetching it with git: the test makes a git repository
from this source tree (so uncommitted work is what gets tested) and points the deck
repository's ``repo:`` at its path, so no network is needed for the clone. Installing the hook's
environment (``language: python``) pip-installs factdeck and its dependencies from PyPI, or from
pip's cache. Where that cannot be done here the tests are skipped with pre-commit's own words,
except under CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.packaging

GOOD = """\
deck: {id: demo, name: Demo}
notes:
  - id: a
    front: Question?
    back: Answer
"""

BAD = """\
deck: {id: demo, name: Demo}
notes:
  - id: a
    frnt: Question?
    back: Answer
"""


def clean_env(tmp: Path) -> dict[str, str]:
    """No PYTHONPATH (the hook must run its own installed factdeck) and a git with no user config."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("GIT_")}
    gitconfig = tmp / "gitconfig"
    gitconfig.write_text("[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n")
    env.update(
        GIT_CONFIG_GLOBAL=str(gitconfig),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Test",
        GIT_AUTHOR_EMAIL="test@example.org",
        GIT_COMMITTER_NAME="Test",
        GIT_COMMITTER_EMAIL="test@example.org",
        PRE_COMMIT_HOME=str(tmp / "pre-commit-home"),
        PRE_COMMIT_COLOR="never",
    )
    return env


def git(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True)


def source_repo(tmp: Path, env: dict[str, str]) -> tuple[Path, str]:
    """A git repository holding this source tree as it is now; returns its path and commit."""
    repo = tmp / "factdeck-src"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".*_cache", ".hypothesis")
    for name in ("pyproject.toml", "README.md", "LICENSE", ".pre-commit-hooks.yaml"):
        if (ROOT / name).exists():
            repo.mkdir(exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    shutil.copytree(ROOT / "src", repo / "src", ignore=ignore)
    git(repo, env, "init", "-q")
    git(repo, env, "add", "-A")
    git(repo, env, "commit", "-q", "-m", "factdeck as tested")
    return repo, git(repo, env, "rev-parse", "HEAD").stdout.strip()


@pytest.fixture(scope="module")
def deck_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A deck repository whose .pre-commit-config.yaml uses both hooks, hooks installed."""
    tmp = tmp_path_factory.mktemp("precommit")
    env = clean_env(tmp)
    src, rev = source_repo(tmp, env)
    repo = tmp / "decks-repo"
    repo.mkdir()
    git(repo, env, "init", "-q")
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {src}\n    rev: {rev}\n    hooks:\n"
        "      - id: factdeck-check\n      - id: factdeck-locked\n",
        encoding="utf-8",
    )
    (repo / "README.md").write_text("decks\n")
    git(repo, env, "add", "-A")
    git(repo, env, "commit", "-q", "-m", "start")
    installed = subprocess.run(
        [sys.executable, "-m", "pre_commit", "install", "--install-hooks"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
    )
    if installed.returncode != 0:
        reason = f"pre-commit cannot build the hook environment here: {installed.stdout[-1500:]}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return repo, env


@pytest.fixture
def repo_at_start(deck_repo: tuple[Path, dict[str, str]]) -> tuple[Path, dict[str, str]]:
    """The deck repository back at its first commit, so each test starts from the same state."""
    repo, env = deck_repo
    start = git(repo, env, "rev-list", "--max-parents=0", "HEAD").stdout.strip()
    git(repo, env, "reset", "-q", "--hard", start)
    git(repo, env, "clean", "-qfdx")
    return repo, env


def commit(repo: Path, env: dict[str, str], message: str) -> subprocess.CompletedProcess[str]:
    """`git commit` as a maintainer runs it: the installed pre-commit hook decides."""
    return subprocess.run(["git", "commit", "-m", message], cwd=repo, env=env, capture_output=True, text=True)


def build_lock(repo: Path) -> None:
    """`factdeck build` in the deck repository (this checkout's factdeck), writing the lock."""
    result = subprocess.run(
        [sys.executable, "-m", "factdeck", "build", "-q"], cwd=repo, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_commit_of_a_bad_deck_is_rejected_with_its_located_error(repo_at_start):
    repo, env = repo_at_start
    (repo / "decks").mkdir()
    (repo / "decks" / "demo.yaml").write_text(BAD, encoding="utf-8")
    git(repo, env, "add", "decks/demo.yaml")
    result = commit(repo, env, "a bad deck")
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "factdeck check" in out and "Failed" in out
    assert "decks/demo.yaml:4:5: error: unknown key `frnt` in a note (did you mean `front`?)" in out
    assert git(repo, env, "log", "-1", "--format=%s").stdout.strip() == "start"  # nothing committed


def test_commit_of_a_good_deck_needs_its_lock_and_then_passes(repo_at_start):
    repo, env = repo_at_start
    (repo / "decks").mkdir()
    (repo / "decks" / "demo.yaml").write_text(GOOD, encoding="utf-8")
    git(repo, env, "add", "decks/demo.yaml")
    stale = commit(repo, env, "a good deck without its lock")
    assert stale.returncode != 0
    out = stale.stdout + stale.stderr
    assert "factdeck check" in out and "factdeck lock files up to date" in out
    assert "decks/demo.yaml: lock is out of date (1 new: a" in out

    build_lock(repo)
    git(repo, env, "add", "decks/demo.yaml", "decks/demo.lock")
    done = commit(repo, env, "a good deck")
    assert done.returncode == 0, done.stdout + done.stderr
    assert git(repo, env, "log", "-1", "--format=%s").stdout.strip() == "a good deck"

    # an edit to the deck without rebuilding the lock is caught, as the lock alone would be
    (repo / "decks" / "demo.yaml").write_text(GOOD.replace("Answer", "Another answer"), encoding="utf-8")
    git(repo, env, "add", "decks/demo.yaml")
    edited = commit(repo, env, "edit without the lock")
    assert edited.returncode != 0
    assert "decks/demo.yaml: lock is out of date (1 changed: a" in edited.stdout + edited.stderr


def test_hooks_ignore_yaml_in_hidden_folders(repo_at_start):
    """A workflow file is YAML but no deck: the default `exclude` keeps it out of both hooks."""
    repo, env = repo_at_start
    (repo / ".github" / "workflows").mkdir(parents=True, exist_ok=True)
    (repo / ".github" / "workflows" / "ci.yml").write_text("on: push\njobs: {}\n")
    git(repo, env, "add", ".github")
    result = commit(repo, env, "a workflow")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout + result.stderr
    assert "factdeck check" in out and "(no files to check)Skipped" in out
