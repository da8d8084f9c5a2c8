"""Every kind of broken or hostile input gets an exact, located message and exit code 1."""

from __future__ import annotations

import json
import os

import pytest

from conftest import SIMPLE_DECK

HEAD = "deck:\n  id: d\n  name: D\n"
NOTE = "notes:\n  - id: a\n"

# (case, file text, expected "line:col: error: message" lines)
CASES = [
    (
        "unclosed quote",
        HEAD + NOTE + '    front: "oops\n    back: b\n',
        ["6:12: error: invalid YAML: this quoted text is never closed (missing closing quote)"],
    ),
    (
        "tab indentation",
        HEAD + "notes:\n\t- id: a\n",
        ["5:1: error: tab character where YAML expects indentation or a value; indent with spaces"],
    ),
    (
        "bad indentation",
        HEAD + NOTE + "    front: x\n   back: y\n",
        [
            "7:4: error: invalid YAML: did not find expected '-' indicator while parsing a block collection "
            "(started at line 5, column 3)"
        ],
    ),
    (
        "duplicate key",
        HEAD + NOTE + "    front: x\n    front: y\n    back: z\n",
        ["7:5: error: duplicate key `front` (first defined at line 6); remove one of them"],
    ),
    (
        "top level not a mapping",
        "- a\n- b\n",
        ["1:1: error: the top level must be a mapping with `deck` and `notes`, not a list"],
    ),
    (
        "missing deck and notes",
        "tags: [a]\n",
        [
            "1:1: error: the deck file is missing required key `deck`",
            "1:1: error: the deck file is missing required key `notes`",
        ],
    ),
    ("notes not a list", HEAD + "notes: hello\n", ["4:8: error: `notes` must be a list, not text"]),
    (
        "misspelled key",
        HEAD + NOTE + "    frnt: x\n    back: y\n",
        ["6:5: error: unknown key `frnt` in a note (did you mean `front`?)"],
    ),
    (
        "unknown top-level key",
        HEAD + "nots: []\n",
        ["4:1: error: unknown key `nots` in the deck file (did you mean `notes`?)"],
    ),
    (
        "missing required key",
        HEAD + NOTE + "    front: x\n",
        ["5:5: error: note `a` (basic) is missing required key `back`"],
    ),
    (
        "missing note id",
        HEAD + "notes:\n  - front: x\n    back: y\n",
        ["5:5: error: note is missing required key `id`"],
    ),
    (
        "empty back",
        HEAD + NOTE + '    front: x\n    back: "  "\n',
        ["7:11: error: `back` of note `a` is empty"],
    ),
    (
        "empty back (null)",
        HEAD + NOTE + "    front: x\n    back:\n",
        ["7:10: error: `back` of note `a` is empty"],
    ),
    (
        "invalid note id",
        HEAD + "notes:\n  - id: Bad_Id\n    front: x\n    back: y\n",
        [
            "5:9: error: note id `Bad_Id` is invalid: use lowercase letters, digits and '-', starting with a letter "
            "or digit, at most 100 characters"
        ],
    ),
    (
        "invalid deck id",
        "deck:\n  id: -x\n  name: D\nnotes: []\n",
        [
            "2:7: error: deck id `-x` is invalid: use lowercase letters, digits and '-', starting with a letter "
            "or digit, at most 100 characters"
        ],
    ),
    (
        "duplicate note id",
        HEAD + NOTE + "    front: x\n    back: y\n  - id: a\n    front: z\n    back: w\n",
        ["8:9: error: note id `a` is used twice: lines 5 and 8"],
    ),
    (
        "unknown note type",
        HEAD + NOTE + "    type: clozz\n    text: x\n",
        [
            "6:11: error: unknown note type `clozz`; use one of: basic, basic-reversed, cloze (did you mean `cloze`?)"
        ],
    ),
    (
        "cloze without a cloze",
        HEAD + NOTE + "    text: no cloze here\n",
        ["6:11: error: `text` of note `a` has no cloze deletion; mark one like `{{c1::answer}}`"],
    ),
    (
        "cloze c0",
        HEAD + NOTE + '    text: "{{c0::x}}"\n',
        ["6:11: error: cloze numbers start at 1: `{{c0::` makes no card in `text` of note `a`"],
    ),
    (
        "cloze unbalanced open",
        HEAD + NOTE + '    text: "{{c1::x}"\n',
        ["6:11: error: unbalanced `{{`: 1 not closed with `}}` in `text` of note `a`"],
    ),
    (
        "cloze unbalanced close",
        HEAD + NOTE + '    text: "{{c1::x}} y}}"\n',
        ["6:11: error: unbalanced `}}`: it closes nothing in `text` of note `a`"],
    ),
    (
        "empty cloze",
        HEAD + NOTE + '    text: "{{c1::}} and {{c2::x}}"\n',
        ["6:11: error: cloze c1 is empty in `text` of note `a`"],
    ),
    (
        "cloze field on a basic note",
        HEAD + NOTE + '    type: basic\n    front: x\n    back: y\n    text: "{{c1::z}}"\n',
        [
            "9:5: error: `text` is for cloze notes; a basic note uses `front` and `back` "
            "(or set `type: cloze` and drop them)"
        ],
    ),
    (
        "basic field on a cloze note",
        HEAD + NOTE + '    text: "{{c1::x}}"\n    front: q\n',
        ["7:5: error: `front` is for basic notes; a cloze note puts everything in `text`"],
    ),
    (
        "undefined source",
        HEAD + "sources:\n  fda:\n    title: T\n" + NOTE + "    front: x\n    back: y\n"
        "    sources: [fda, fdaa]\n",
        ["11:20: error: source `fdaa` is not defined under `sources` (did you mean `fda`?)"],
    ),
    (
        "source without title",
        HEAD
        + "sources:\n  fda:\n    url: https://x.org\n"
        + NOTE
        + "    front: x\n    back: y\n    sources: [fda]\n",
        [
            "6:5: error: source `fda` is missing required key `title`",
            "11:15: error: source `fda` is not defined under `sources`",
        ],
    ),
    (
        "javascript source url",
        HEAD
        + "sources:\n  s:\n    title: T\n    url: javascript:alert(1)\n"
        + NOTE
        + "    front: x\n    back: y\n    sources: [s]\n",
        ["7:10: error: url of source `s` must be an http:// or https:// address without spaces"],
    ),
    (
        "deck name with an empty part",
        'deck:\n  id: d\n  name: "A::::B"\n' + NOTE + "    front: x\n    back: y\n",
        [
            "3:9: error: deck name `A::::B` has an empty part between `::` (Anki would name the deck `A::blank::B`)"
        ],
    ),
    (
        "tag with a space",
        HEAD + "tags: [a b]\n" + NOTE + "    front: x\n    back: y\n",
        ["4:8: error: tag `a b` contains whitespace; Anki tags are single words"],
    ),
    (
        "tags not a list",
        HEAD + NOTE + "    front: x\n    back: y\n    tags: mechanism\n",
        ["8:11: error: `tags` of note `a` must be a list, not text; write `tags: [a, b]`"],
    ),
    (
        "front is a list",
        HEAD + NOTE + "    front: [x]\n    back: y\n",
        ["6:12: error: `front` of note `a` must be text, not a list"],
    ),
    (
        "mapping as a key",
        HEAD + "? [a]\n: b\nnotes: []\n",
        ["4:3: error: a mapping key must be plain text, not a list or mapping"],
    ),
    (
        "python object tag",
        HEAD + 'notes:\n  - !!python/object/apply:os.system ["echo pwned"]\n',
        [
            "5:5: error: a note must be a mapping, not a list",
            "5:5: error: YAML tag `!!python/object/apply:os.system` is not allowed: deck files hold only text, lists "
            "and mappings",
        ],
    ),
    (
        "custom tag",
        HEAD + NOTE + "    front: !secret x\n    back: y\n",
        ["6:12: error: YAML tag `!secret` is not allowed: deck files hold only text, lists and mappings"],
    ),
    (
        "second document",
        HEAD + "notes: []\n---\nx: 1\n",
        ["5:1: error: a deck file holds one YAML document; found a second `---`"],
    ),
    (
        "undefined alias",
        HEAD + "notes: *nothing\n",
        ["4:8: error: alias `*nothing` refers to no anchor defined before it"],
    ),
    (
        "unsupported version",
        "version: 2\n" + HEAD + "notes: []\n",
        ["1:10: error: unsupported format version `2`: this factdeck reads version 1"],
    ),
    ("empty file", "", ["error: file is empty: a deck file needs `deck` and `notes`"]),
    ("only a comment", "# nothing yet\n", ["error: file is empty: a deck file needs `deck` and `notes`"]),
]


@pytest.mark.parametrize("text,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_mistake_gets_an_exact_located_message(write_deck, run, text, expected):
    path = write_deck(text, "deck.yaml")
    result = run("check", path)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    prefix = f"{path}:"
    assert [e[len(prefix) :] if e.startswith(prefix) else e for e in errors] == [
        e if e[0].isdigit() else f" {e}" for e in expected
    ]
    assert result.stderr.splitlines()[-1].startswith(f"{len(expected)} error")
    assert "Traceback" not in result.output


def test_file_that_is_not_utf8_is_located_at_the_bad_byte(tmp_path, run):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"deck:\n  id: d\n  name: D\nnotes:\n  - id: a\n    front: caf\xe9\n    back: y\n")
    result = run("check", path)
    assert result.exit_code == 1
    assert f"{path}:6:15: error: file is not valid UTF-8 (byte 0xe9); save it as UTF-8" in result.stderr


def test_utf8_bom_is_accepted(tmp_path, run):
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + SIMPLE_DECK.encode())
    assert run("check", path).exit_code == 0


def test_same_deck_id_in_two_files_names_the_other_file(write_deck, run, tmp_path):
    write_deck(SIMPLE_DECK, "a.yaml")
    write_deck(SIMPLE_DECK, "b.yaml")
    result = run("check", tmp_path)
    assert result.exit_code == 1
    assert f"{tmp_path}/b.yaml:2:7: error: deck id `demo` is also used by {tmp_path}/a.yaml" in result.stderr


def test_all_errors_of_all_files_in_one_run_sorted_then_counted(write_deck, run, tmp_path):
    write_deck(HEAD + NOTE + "    frnt: x\n    back: y\n", "b.yaml")
    write_deck(
        HEAD.replace("id: d", "id: e").replace("name: D", "name: E")
        + NOTE
        + "    front: x\n    back: ''\n  - id: B\n    front: x\n    back: y\n",
        "a.yaml",
    )
    result = run("check", tmp_path)
    lines = result.stderr.splitlines()
    assert [line.split(": error")[0] for line in lines[:-1]] == [
        f"{tmp_path}/a.yaml:7:11",
        f"{tmp_path}/a.yaml:8:9",
        f"{tmp_path}/b.yaml:6:5",
    ]
    assert lines[-1] == "3 errors"
    assert result.exit_code == 1


def test_json_format_lists_the_same_errors_for_machines(write_deck, run):
    path = write_deck(HEAD + NOTE + "    frnt: x\n    back: y\n")
    result = run("check", "--format", "json", path)
    assert result.exit_code == 1
    assert json.loads(result.stdout) == [
        {
            "path": str(path),
            "line": 6,
            "column": 5,
            "severity": "error",
            "code": "unknown-key",
            "message": "unknown key `frnt` in a note (did you mean `front`?)",
        }
    ]


def test_missing_path_is_an_input_error(run, tmp_path):
    result = run("check", tmp_path / "nope.yaml")
    assert result.exit_code == 1
    assert f"{tmp_path}/nope.yaml: error: no such file or folder" in result.stderr


def test_a_deck_path_that_is_a_fifo_or_device_says_so(run, tmp_path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    for path in (fifo, "/dev/null"):
        result = run("check", path)
        assert result.exit_code == 1
        assert f"{path}: error: not a regular file (a deck file is a YAML file)" in result.stderr


def test_alias_bomb_is_refused_quickly(write_deck, run):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    path = write_deck("\n".join(lines) + "\n" + HEAD + "notes: *a9\n")
    result = run("check", path)
    assert result.exit_code == 1
    assert "aliases expand this file more than tenfold; refusing to expand (alias bomb?)" in result.stderr


def test_small_aliases_are_fine(write_deck, run):
    path = write_deck(
        HEAD + "notes:\n  - id: a\n    front: x\n    back: y\n    tags: &t [one, two]\n"
        "  - id: b\n    front: z\n    back: w\n    tags: *t\n"
    )
    assert run("check", path).exit_code == 0


@pytest.mark.parametrize("depth", [100, 100_000])
def test_absurd_nesting_depth_is_refused(write_deck, run, depth):
    path = write_deck(HEAD + "notes: " + "[" * depth + "]" * depth + "\n")
    result = run("check", path)
    assert result.exit_code == 1
    assert (
        "nesting deeper than 64 levels" in result.stderr or "exceeded maximum nesting depth" in result.stderr
    )


def test_internal_failure_is_one_line_and_exit_70(write_deck, monkeypatch, tmp_path):
    import subprocess
    import sys

    path = write_deck(SIMPLE_DECK)
    code = (
        "import factdeck.build as b, sys\n"
        "b.check = lambda paths: 1/0\n"
        "sys.argv = ['factdeck', 'check', sys.argv[1]]\n"
        "from factdeck.cli import main; main()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    assert proc.returncode == 70
    assert proc.stderr.startswith(
        "factdeck: internal error (ZeroDivisionError: division by zero); please report"
    )
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_control_characters_anki_cannot_store_are_errors(write_deck, run):
    path = write_deck(HEAD + NOTE + '    front: x\n    back: "a\\x1fb"\n')
    result = run("check", path)
    assert result.exit_code == 1
    assert (
        f"{path}:7:11: error: `back` of note `a` contains control character U+001F, which Anki cannot store"
        in result.stderr
    )


def test_two_deck_files_that_would_share_a_lock_are_an_error(write_deck, run, tmp_path):
    write_deck(SIMPLE_DECK, "deck.yaml")
    write_deck(SIMPLE_DECK.replace("id: demo", "id: other"), "deck.yml")
    result = run("check", tmp_path)
    assert result.exit_code == 1
    assert (
        f"{tmp_path}/deck.yml: error: deck.yaml and deck.yml would share the lock file deck.lock"
        in result.stderr
    )


def test_windows_line_endings_and_bom_read_like_unix_ones(tmp_path, run):
    path = tmp_path / "crlf.yaml"
    path.write_bytes(
        b"\xef\xbb\xbf" + (HEAD + NOTE + "    frnt: x\n    back: y\n").replace("\n", "\r\n").encode()
    )
    result = run("check", path)
    assert f"{path}:6:5: error: unknown key `frnt` in a note (did you mean `front`?)" in result.stderr


def test_missing_or_escaping_images_are_located_errors(write_deck, run, tmp_path):
    path = write_deck(
        HEAD + NOTE + '    front: x\n    back: "![pump](images/none.png)"\n'
        '    extra: "![secret](../outside.png)"\n'
    )
    result = run("check", path)
    assert result.exit_code == 1
    assert (
        f"{path}:7:11: error: image `images/none.png` not found (looked for {tmp_path}/images/none.png) "
        "(in `back` of note `a`)"
    ) in result.stderr
    assert (
        f"{path}:8:12: error: image `../outside.png` is outside the deck's folder (in `extra` of note `a`)"
        in result.stderr
    )
