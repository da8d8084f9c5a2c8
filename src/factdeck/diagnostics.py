"""Errors and warnings as values: every stage returns them, the CLI reports them together."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from .terminal import printable


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem in the input, located like a compiler would locate it.

    Ordering is by file, line and column so a run's report reads top to bottom.
    ``line``/``col`` are 1-based; 0 means "the whole file".
    """

    path: str
    line: int
    col: int
    code: str
    message: str
    severity: str = "error"

    def format(self) -> str:
        """One line, whatever the path and message hold: text quoted from a deck (a field name,
        a template) is shown with line breaks and control characters escaped (``\\n``)."""
        path = printable(self.path)
        where = path if self.line == 0 else f"{path}:{self.line}:{self.col}"
        return f"{where}: {self.severity}: {printable(self.message)}"

    def as_github(self) -> str:
        """A GitHub Actions workflow command, so the problem shows on the pull request's line.

        Escaped as the runner unescapes: ``%``, CR and LF everywhere, ``:`` and ``,`` also in
        the properties (a path may hold any of them). The path stays exact (the runner finds the
        file by it); the message reads as on the terminal, one line.
        """
        props = [f"file={_github_escape(self.path, True)}"]
        if self.line:
            props += [f"line={self.line}", f"col={self.col}"]
        props.append(f"title={_github_escape(f'factdeck {self.code}', True)}")
        return f"::{self.severity} {','.join(props)}::{_github_escape(printable(self.message), False)}"

    def as_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "line": self.line,
            "column": self.col,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
        }


def _github_escape(text: str, is_property: bool) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if is_property:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


MAX_SUGGESTED_WORD = 40  # longer words get no "did you mean": comparing them costs too much
SUGGESTION_BUDGET = 10_000  # comparisons per file against sets of choices larger than SMALL_CHOICES
SMALL_CHOICES = 16


class Collector:
    """Gathers diagnostics for one file so that validation never stops at the first."""

    def __init__(self, path: str, source: str | None = None):
        self.path = path
        # the file's text, when known: lets a problem inside a scalar (a template) be located at
        # its own line and column (see yamlload.value_position)
        self.source = source
        self.items: list[Diagnostic] = []
        # comparisons asked of did_you_mean against large sets of choices, granted or not
        self.suggestion_work = 0

    def error(self, pos: tuple[int, int] | None, code: str, message: str) -> None:
        line, col = pos if pos else (0, 0)
        self.items.append(Diagnostic(self.path, line, col, code, message))

    def warning(self, pos: tuple[int, int] | None, code: str, message: str) -> None:
        line, col = pos if pos else (0, 0)
        self.items.append(Diagnostic(self.path, line, col, code, message, "warning"))


def did_you_mean(word: str, choices: Collection[str], out: Collector | None = None) -> str:
    """A ' (did you mean `x`?)' suffix when a close match exists, else ''.

    Each comparison costs time, and a hostile file can ask for thousands of suggestions among
    thousands of choices: against a large set of choices, suggestions are made only while the
    file's ``out.suggestion_work`` stays within ``SUGGESTION_BUDGET``, so the work is bounded.
    """
    if len(word) > MAX_SUGGESTED_WORD:
        return ""
    if len(choices) > SMALL_CHOICES:
        if out is None:
            return ""
        out.suggestion_work += len(choices)
        if out.suggestion_work > SUGGESTION_BUDGET:
            return ""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean `{match[0]}`?)" if match else ""


def errors_in(diags: Iterable[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diags if d.severity == "error"]
