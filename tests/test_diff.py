"""`factdeck diff`: notes added, changed and removed since an old package or a git revision."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import zipfile

import pytest

from conftest import SIMPLE_DECK
from factdeck import build as pipeline

EDITED = (
    SIMPLE_DECK.replace("back: GABA-B receptor (agonist)", "back: GABA-B receptor agonist")
    .replace(
        "    back: Central alpha-2 agonist\n", "    back: Central alpha-2 agonist\n    tags: [adrenergic]\n"
    )
    .replace(
        "  - id: dantrolene-site\n    front: Where does dantrolene act?\n"
        "    back: Skeletal muscle (ryanodine receptor)\n    sources: [label]\n",
        "",
    )
    + "  - id: diazepam-class\n    front: Diazepam is a?\n    back: Benzodiazepine\n    sources: [label]\n"
)

EXPECTED = """\
demo: Demo::Pharmacology
+ diazepam-class
~ baclofen-moa (Back)
~ tizanidine-class (tags)
- dantrolene-site
1 added, 2 changed, 1 removed

Anki's import never deletes notes: users delete removed ones themselves (in the browser, search ID:<note id>).
"""

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def package(deck, tmp_path, name="old.apkg"):
    result = pipeline.build([str(deck)], output=tmp_path / name, now=1700000000)
    assert not result.errors, result.diagnostics
    return tmp_path / name


def git(cwd, *args):
    subprocess.run(
        [
            "git",
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.org",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """An empty git repository as the current directory."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    git(tmp_path, "init", "-q")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def commit(repo):
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "decks")


# --- against a package ---------------------------------------------------------------------------


def test_diff_against_a_package_lists_added_changed_and_removed_notes_by_id(write_deck, tmp_path, run):
    deck = write_deck(SIMPLE_DECK)
    old = package(deck, tmp_path)
    write_deck(EDITED)
    result = run("diff", old, deck)
    assert result.exit_code == 0, result.output
    assert result.stdout == EXPECTED


def test_diff_exits_0_and_counts_zero_when_nothing_changed(write_deck, tmp_path, run):
    deck = write_deck(SIMPLE_DECK)
    result = run("diff", package(deck, tmp_path), deck)
    assert result.exit_code == 0
    assert result.stdout == "demo: Demo::Pharmacology\n0 added, 0 changed, 0 removed\n"


def test_diff_json_lists_the_same_changes_with_changed_fields(write_deck, tmp_path, run):
    deck = write_deck(SIMPLE_DECK)
    old = package(deck, tmp_path)
    write_deck(EDITED)
    result = run("diff", old, deck, "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "old": str(old),
        "decks": [
            {
                "id": "demo",
                "name": "Demo::Pharmacology",
                "current": True,
                "added": ["diazepam-class"],
                "changed": [
                    {"id": "baclofen-moa", "fields": ["Back"]},
                    {"id": "tizanidine-class", "fields": ["tags"]},
                ],
                "removed": ["dantrolene-site"],
            }
        ],
        "total": {"added": 1, "changed": 2, "removed": 1},
    }


def test_diff_reports_a_changed_note_type(write_deck, tmp_path, run):
    deck = write_deck(SIMPLE_DECK)
    old = package(deck, tmp_path)
    write_deck(
        SIMPLE_DECK.replace(
            "    front: Where does dantrolene act?",
            "    type: basic-reversed\n    front: Where does dantrolene act?",
        )
    )
    assert "~ dantrolene-site (note type)\n" in run("diff", old, deck).stdout


def test_diff_lists_decks_of_the_old_package_that_are_no_longer_built(write_deck, tmp_path, run):
    a = write_deck(SIMPLE_DECK, "a.yaml")
    b = write_deck(SIMPLE_DECK.replace("id: demo", "id: other").replace("Demo::", "Other::"), "b.yaml")
    result = pipeline.build([str(a), str(b)], output=tmp_path / "both.apkg", now=1700000000)
    assert not result.errors
    out = run("diff", tmp_path / "both.apkg", a)
    assert out.exit_code == 0
    assert "Other::Pharmacology (deck not in this build)\n- baclofen-moa\n- baclofen-routes\n" in out.stdout
    assert "0 added, 0 changed, 5 removed\n" in out.stdout
    decks = json.loads(run("diff", tmp_path / "both.apkg", a, "--format", "json").stdout)["decks"]
    assert [(d["id"], d["name"], d["current"]) for d in decks] == [
        ("demo", "Demo::Pharmacology", True),
        (None, "Other::Pharmacology", False),
    ]


def test_diff_reads_the_real_collection_of_packages_with_a_legacy_stub(write_deck, tmp_path, run):
    deck = write_deck(SIMPLE_DECK)
    with zipfile.ZipFile(package(deck, tmp_path)) as zf:
        real = zf.read("collection.anki2")
    with zipfile.ZipFile(tmp_path / "anki21.apkg", "w") as zf:
        zf.writestr("collection.anki2", b"stub: please update Anki")
        zf.writestr("collection.anki21", real)
    result = run("diff", tmp_path / "anki21.apkg", deck)
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("0 added, 0 changed, 0 removed\n")


@pytest.mark.parametrize(
    "content, message",
    [
        (b"not a zip at all", "not an Anki package (not a zip file)"),
        ("empty-zip", "not an Anki package: it holds no collection.anki2"),
        ("garbage-collection", "not a readable Anki collection"),
        ("not-anki-tables", "not an Anki collection: no `col` table"),
        ("truncated", "not an Anki package (not a zip file)"),
        ("anki21b", "Anki could not read the package"),
    ],
)
def test_diff_reports_an_unreadable_old_package_in_one_line(write_deck, tmp_path, run, content, message):
    deck = write_deck(SIMPLE_DECK)
    bad = tmp_path / "bad.apkg"
    if content == "truncated":
        data = package(deck, tmp_path).read_bytes()
        bad.write_bytes(data[: len(data) // 2])
    elif isinstance(content, bytes):
        bad.write_bytes(content)
    else:
        members = {}
        if content == "garbage-collection":
            members["collection.anki2"] = b"SQLite format 3\0" + b"\xff" * 200
        elif content == "not-anki-tables":
            db = sqlite3.connect(":memory:")
            db.execute("CREATE TABLE notes (x)")
            members["collection.anki2"] = db.serialize()
        elif content == "anki21b":
            members["collection.anki21b"] = b"zstd"
        with zipfile.ZipFile(bad, "w") as zf:
            for name, data in members.items():
                zf.writestr(name, data)
    result = run("diff", bad, deck)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"{bad}: error: ") and message in result.stderr
    assert "Traceback" not in result.stderr


def test_diff_reports_a_missing_old_package_and_errors_in_the_decks(write_deck, tmp_path, run):
    deck = write_deck(SIMPLE_DECK)
    missing = run("diff", tmp_path / "nope.apkg", deck)
    assert missing.exit_code == 1 and missing.stderr.startswith(
        f"{tmp_path / 'nope.apkg'}: error: no such file"
    )
    old = package(deck, tmp_path)
    write_deck("deck: {id: demo, name: Demo}\nnotes:\n  - {id: a, front: Q}\n")
    broken = run("diff", old, deck)
    assert broken.exit_code == 1 and "missing required key `back`" in broken.stderr


def test_diff_usage_errors_exit_2(write_deck, run):
    deck = write_deck(SIMPLE_DECK)
    assert run("diff").exit_code == 2
    wrong = run("diff", deck)
    assert wrong.exit_code == 2 and "use --rev GITREV" in wrong.stderr
    assert run("diff", "old.apkg", "--format", "xml").exit_code == 2
    both = run("diff", "--rev", "HEAD", "old.apkg")
    assert both.exit_code == 2 and "either an old package or --rev" in both.stderr


# --- against a git revision ----------------------------------------------------------------------


@needs_git
def test_diff_rev_compares_with_the_deck_files_at_a_revision(repo, write_deck, run):
    write_deck(SIMPLE_DECK, "decks/demo.yaml")
    commit(repo)
    write_deck(EDITED, "decks/demo.yaml")
    result = run("diff", "--rev", "HEAD")
    assert result.exit_code == 0, result.output
    assert result.stdout == EXPECTED
    json_out = json.loads(run("diff", "--rev", "HEAD", "decks/demo.yaml", "--format", "json").stdout)
    assert json_out["old"] == "HEAD" and json_out["total"] == {"added": 1, "changed": 2, "removed": 1}
    status = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True).stdout
    assert status == " M decks/demo.yaml\n"  # read-only: nothing else written or staged


@needs_git
def test_diff_rev_lists_deck_files_deleted_since_the_revision(repo, write_deck, run):
    write_deck(SIMPLE_DECK, "decks/demo.yaml")
    gone = write_deck(
        SIMPLE_DECK.replace("id: demo", "id: other").replace("Demo::", "Other::"), "decks/other.yaml"
    )
    commit(repo)
    gone.unlink()
    result = run("diff", "--rev", "HEAD", "decks")
    assert result.exit_code == 0, result.output
    assert "demo: Demo::Pharmacology\n0 added, 0 changed, 0 removed\n" in result.stdout
    assert "other: Other::Pharmacology (deck not in this build)\n- baclofen-moa\n" in result.stdout


@needs_git
def test_diff_rev_counts_a_deck_file_new_since_the_revision_as_added(repo, write_deck, run):
    write_deck("x\n", "README")
    commit(repo)
    write_deck(SIMPLE_DECK, "decks/demo.yaml")
    result = run("diff", "--rev", "HEAD", "decks")
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("5 added, 0 changed, 0 removed\n")


@needs_git
def test_diff_rev_resolves_images_as_they_were_at_the_revision(repo, write_deck, run):
    image = repo / "decks" / "img" / "dot.png"
    image.parent.mkdir(parents=True)
    image.write_bytes(b"\x89PNG first")
    write_deck(
        SIMPLE_DECK.replace("front: Where does dantrolene act?", "front: Where? ![dot](img/dot.png)"),
        "decks/demo.yaml",
    )
    commit(repo)
    assert run("diff", "--rev", "HEAD").stdout.endswith("0 added, 0 changed, 0 removed\n")
    image.write_bytes(b"\x89PNG second")
    assert "~ dantrolene-site (Front)\n" in run("diff", "--rev", "HEAD").stdout


@needs_git
def test_diff_rev_reports_a_deck_that_fails_to_load_at_the_revision(repo, write_deck, run):
    write_deck("deck: {id: demo, name: Demo}\nnotes:\n  - {id: a, front: Q}\n", "decks/demo.yaml")
    commit(repo)
    write_deck(SIMPLE_DECK, "decks/demo.yaml")
    result = run("diff", "--rev", "HEAD")
    assert result.exit_code == 1
    assert "HEAD:decks/demo.yaml:3:5: error: note `a` (basic) is missing required key `back`" in result.stderr


@needs_git
def test_diff_rev_rejects_an_unknown_revision_as_a_usage_error(repo, write_deck, run):
    write_deck(SIMPLE_DECK, "decks/demo.yaml")
    commit(repo)
    for rev in ("no-such-branch", "--output=x"):
        result = run("diff", "--rev", rev)
        assert result.exit_code == 2, rev
        assert "Invalid value for --rev" in result.stderr
    assert not (repo / "x").exists()


@needs_git
def test_diff_rev_outside_a_git_repository_is_an_input_error(tmp_path, write_deck, run, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    monkeypatch.chdir(tmp_path)
    write_deck(SIMPLE_DECK, "decks/demo.yaml")
    result = run("diff", "--rev", "HEAD")
    assert result.exit_code == 1
    assert "error: not inside a git repository" in result.stderr


@needs_git
def test_diff_rev_reads_included_note_type_files_as_they_were_at_the_revision(repo, write_deck, run):
    write_deck(
        "id: shared\nnotetypes:\n  t:\n    fields: [Q, A]\n    css-file: t.css\n"
        "    templates: [{front: '{{Q}}', back: '{{A}}'}]\n",
        "shared/types.yaml",
    )
    write_deck(".card { color: red }\n", "shared/t.css")
    write_deck(
        "deck: {id: d, name: D}\ninclude: [../shared/types.yaml]\nnotes:\n  - {id: n, type: t, fields: {Q: q, A: a}}\n",
        "decks/d.yaml",
    )
    commit(repo)
    result = run("diff", "--rev", "HEAD", "decks")
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("0 added, 0 changed, 0 removed\n")
    write_deck(
        "deck: {id: d, name: D}\ninclude: [../shared/types.yaml]\nnotes:\n  - {id: n, type: t, fields: {Q: q, A: b}}\n",
        "decks/d.yaml",
    )
    assert "~ n (A)\n" in run("diff", "--rev", "HEAD", "decks").stdout
