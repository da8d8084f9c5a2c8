"""The `factdeck` command: a thin click layer over the library."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import build as pipeline
from .diagnostics import Diagnostic

EXIT_INPUT = 1
EXIT_INTERNAL = 70
BUG_URL = "https://github.com/factdeck/factdeck/issues"

PATHS = click.argument("paths", nargs=-1, type=click.Path(path_type=str))


def shorten(ids: list[str], limit: int = 10) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def report(diags: list[Diagnostic]) -> None:
    """Every problem, sorted by file and line, then a count; on stderr."""
    for d in sorted(diags):
        click.echo(d.format(), err=True)
    errors = sum(d.severity == "error" for d in diags)
    warnings = len(diags) - errors
    if errors or warnings:
        parts = [f"{errors} error{'s' * (errors != 1)}"] if errors else []
        if warnings:
            parts.append(f"{warnings} warning{'s' * (warnings != 1)}")
        click.echo(", ".join(parts), err=True)


class _progress:
    """A progress bar on a terminal for inputs big enough to wait for; silent in pipes."""

    MIN_BYTES = 2_000_000

    def __init__(self, enabled: bool):
        self.enabled = enabled and sys.stderr.isatty()
        self.bar = None

    def __enter__(self):
        return self

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total < self.MIN_BYTES:
            return
        if self.bar is None:
            self.bar = click.progressbar(length=total, label="building", file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.bar.pos)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="factdeck")
def cli() -> None:
    """Compile flashcards written as YAML into Anki packages that update in place."""


@cli.command()
@PATHS
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write one package holding every deck given.")
@click.option("--locked", is_flag=True, help="Write nothing; exit 1 if a lock file would change.")
@click.option("-q", "--quiet", is_flag=True, help="Print only errors and warnings.")
@click.option("-v", "--verbose", is_flag=True, help="Also print the time each file took.")
def build(paths: tuple[str, ...], output: Path | None, locked: bool, quiet: bool, verbose: bool) -> None:
    """Build PATHS (deck files or folders; default decks/) into .apkg files in dist/."""
    if output is not None and output.suffix != ".apkg":
        raise click.BadParameter("the output file must end in .apkg", param_hint="-o/--output")
    try:
        pipeline.build_time()
    except ValueError:
        raise click.UsageError("SOURCE_DATE_EPOCH must be a whole number of seconds")
    try:
        with _progress(enabled=not quiet) as progress:
            result = pipeline.build(list(paths) or ["decks"], output=output, locked=locked, progress=progress)
    except OSError as e:
        target = e.filename or output or "dist"
        report([Diagnostic(str(target), 0, 0, "write", f"cannot write: {e.strerror or e}")])
        sys.exit(EXIT_INPUT)
    report(result.diagnostics)
    if result.errors:
        sys.exit(EXIT_INPUT)
    if locked and result.stale:
        for line in result.stale:
            click.echo(f"{line}", err=True)
        click.echo("the lock files are stale: run `factdeck build` and commit the .lock files", err=True)
        sys.exit(EXIT_INPUT)
    if verbose:
        for path, stage, seconds in result.timings:
            click.echo(f"  {stage:6} {seconds:8.3f} s  {path}", err=True)
    if quiet:
        return
    for r in result.reports:
        built, ch = r.deck, r.changes
        click.echo(f"{built.deck.id}: {len(built.notes)} notes, {built.card_count} cards -> {r.output}")
        details = []
        if ch.new:
            details.append(f"{len(ch.new)} new")
        if ch.changed:
            details.append(f"{len(ch.changed)} changed: {shorten(ch.changed)}")
        if ch.removed:
            details.append(f"{len(ch.removed)} removed: {shorten(ch.removed)} "
                           "(Anki keeps removed notes until the user deletes them)")
        if ch.restyled:
            details.append(f"restyled: {', '.join(ch.restyled)}")
        for line in details:
            click.echo(f"  {line}")
        for line in ch.field_changes:
            click.echo(f"  warning: {line}")


@cli.command()
@PATHS
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def check(paths: tuple[str, ...], fmt: str) -> None:
    """Validate PATHS without writing anything."""
    result = pipeline.check(list(paths) or ["decks"])
    if fmt == "json":
        click.echo(json.dumps([d.as_json() for d in result.diagnostics], indent=2))
    else:
        report(result.diagnostics)
        if not result.errors:
            notes = sum(len(d.notes) for d in result.decks)
            cards = sum(d.card_count for d in result.decks)
            click.echo(f"ok: {len(result.decks)} deck{'s' * (len(result.decks) != 1)}, {notes} notes, {cards} cards")
    if result.errors:
        sys.exit(EXIT_INPUT)


@cli.command()
@PATHS
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=Path("preview"),
              show_default=True, help="The folder to write the site into (created if missing).")
def preview(paths: tuple[str, ...], output: Path) -> None:
    """Write a static HTML site showing every card of PATHS (default decks/) as Anki renders it."""
    from .preview import write_site

    result = pipeline.check(list(paths) or ["decks"])
    report(result.diagnostics)
    if result.errors:
        sys.exit(EXIT_INPUT)
    try:
        index = write_site(result.decks, output)
    except OSError as e:
        report([Diagnostic(str(e.filename or output), 0, 0, "write", f"cannot write: {e.strerror or e}")])
        sys.exit(EXIT_INPUT)
    cards, decks = sum(d.card_count for d in result.decks), len(result.decks)
    click.echo(f"{cards} card{'s' * (cards != 1)} from {decks} deck{'s' * (decks != 1)} -> {index}")


def main() -> None:
    """Entry point: any unexpected failure is one line and exit 70, never a traceback."""
    try:
        cli.main(standalone_mode=True)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        click.echo("factdeck: interrupted", err=True)
        sys.exit(130)
    except BaseException as e:  # noqa: BLE001 - the contract is "no traceback, ever"
        click.echo(f"factdeck: internal error ({type(e).__name__}: {e}); please report this bug at {BUG_URL}",
                   err=True)
        sys.exit(EXIT_INTERNAL)
