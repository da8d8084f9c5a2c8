"""`factdeck check --format github`: GitHub Actions workflow commands, one per problem.

GitHub's runner reads ``::error file=F,line=L,col=C,title=T::MESSAGE`` from a step's output and
unescapes ``%25``, ``%0D``, ``%0A`` (and, in properties, ``%3A``, ``%2C``). The unescaping below
is that documented table, so the property test checks that any path or message survives it.
"""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from factdeck.diagnostics import Diagnostic
from factdeck.terminal import printable

BAD = """\
deck: {id: bad, name: Bad}
sources:
  s: {title: S}
notes:
  - id: x
    frnt: hello
    back: b
  - id: y
    "100%,x": b
    front: a
    back: b
"""

_COMMAND = re.compile(r"::(error|warning) ([^:]*)::(.*)\Z", re.S)


def unescape(text: str, is_property: bool) -> str:
    pairs = [("%0D", "\r"), ("%0A", "\n")]
    if is_property:
        pairs += [("%3A", ":"), ("%2C", ",")]
    for code, char in pairs:
        text = text.replace(code, char)
    return text.replace("%25", "%")


def parse(line: str) -> tuple[str, dict[str, str], str]:
    """A workflow command split the way the runner splits it."""
    m = _COMMAND.match(line)
    assert m, line
    props = dict(p.split("=", 1) for p in m.group(2).split(","))
    return m.group(1), {k: unescape(v, True) for k, v in props.items()}, unescape(m.group(3), False)


def test_errors_and_warnings_become_annotations_on_their_lines(write_deck, run, monkeypatch):
    path = write_deck(BAD, "decks/bad.yaml")
    monkeypatch.chdir(path.parent.parent)
    result = run("check", "--format", "github", "decks/bad.yaml")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "::warning file=decks/bad.yaml,line=3,col=3,title=factdeck unused-source"
        "::source `s` is defined but no note cites it",
        "::error file=decks/bad.yaml,line=6,col=5,title=factdeck unknown-key"
        "::unknown key `frnt` in a note (did you mean `front`?)",
        "::error file=decks/bad.yaml,line=9,col=5,title=factdeck unknown-key::unknown key `100%25,x` in a note",
    ]
    assert result.stderr.strip().endswith("warning")  # the count goes to the log, not to annotations


def test_a_clean_deck_prints_no_annotation(write_deck, run, monkeypatch):
    path = write_deck("deck: {id: ok, name: Ok}\nnotes:\n  - {id: a, front: q, back: a}\n")
    result = run("check", "--format", "github", str(path))
    assert result.exit_code == 0
    assert "::" not in result.stdout and result.stdout.startswith("ok: 1 deck")


def test_whole_file_problems_name_the_file_without_a_line(write_deck, run):
    path = write_deck("", "empty.yaml")
    result = run("check", "--format", "github", str(path))
    assert result.exit_code == 1
    kind, props, _ = parse(result.stdout.splitlines()[0])
    assert kind == "error" and props["file"] == str(path) and "line" not in props


_TEXT = st.lists(st.sampled_from([*"ab:,%\r\n =é", "::", "%0A", "%25", "%3A"]), max_size=20).map("".join)


@given(
    path=_TEXT.filter(bool),
    message=_TEXT,
    line=st.integers(0, 10**6),
    severity=st.sampled_from(["error", "warning"]),
)
def test_any_path_and_message_survive_the_runners_unescaping(path, message, line, severity):
    """The path exactly (the runner finds the file by it); the message as the terminal shows it,
    its line breaks escaped, so that one annotation is one line there too."""
    d = Diagnostic(path, line, 1 if line else 0, "some-code", message, severity)
    command = d.as_github()
    assert "\n" not in command and "\r" not in command
    kind, props, text = parse(command)
    assert (kind, props["file"], text, props["title"]) == (
        severity,
        path,
        printable(message),
        "factdeck some-code",
    )
    assert "\n" not in text and "\r" not in text
    assert props.get("line") == (str(line) if line else None)
