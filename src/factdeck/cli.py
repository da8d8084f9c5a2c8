"""The `factdeck` command: a thin click layer over the library."""

from __future__ import annotations

import json
import shlex
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from . import build as pipeline
from . import lock as lockfile
from .diagnostics import Diagnostic
from .entry import EXIT_INTERRUPTED, exit_now, handle
from .terminal import escape_surrogates, escape_surrogates_data, json_printable, printable

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar  # what click.progressbar returns

EXIT_INPUT = 1
EXIT_INTERNAL = 70
BUG_URL = "https://github.com/factdeck/factdeck/issues"

PATHS = click.argument("paths", nargs=-1, type=click.Path(path_type=str))


def echo(text: str = "", err: bool = False, nl: bool = True) -> None:
    """click.echo for any text: file names that are not UTF-8 are shown escaped, never an error."""
    click.echo(escape_surrogates(text), err=err, nl=nl)


def as_json(data: Any, **options: Any) -> str:
    """JSON for the terminal: raw text (``ensure_ascii=False``) has its invisible and
    bidirectional controls escaped too, as in text output."""
    text = json.dumps(escape_surrogates_data(data), indent=2, **options)
    return json_printable(text) if options.get("ensure_ascii") is False else text


def report(diags: list[Diagnostic]) -> None:
    """Every problem, sorted by file and line, then a count; on stderr."""
    for d in sorted(diags):
        echo(d.format(), err=True)
    report_summary(diags)


def report_summary(diags: list[Diagnostic]) -> None:
    """The count of errors and warnings (nothing when there are none), on stderr."""
    errors = sum(d.severity == "error" for d in diags)
    warnings = len(diags) - errors
    if errors or warnings:
        parts = [f"{errors} error{'s' * (errors != 1)}"] if errors else []
        if warnings:
            parts.append(f"{warnings} warning{'s' * (warnings != 1)}")
        echo(", ".join(parts), err=True)


class _progress:
    """A progress bar on a terminal for inputs big enough to wait for; silent in pipes."""

    MIN_BYTES = 2_000_000

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.bar: ProgressBar[int] | None = None

    def __enter__(self) -> _progress:
        return self

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total < self.MIN_BYTES:
            return
        if self.bar is None:
            self.bar = click.progressbar(length=total, label="building", file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.bar.pos)

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="factdeck")
def cli() -> None:
    """Compile flashcards written as YAML into Anki packages that update in place."""


@cli.command()
@PATHS
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write one package holding every deck given.",
)
@click.option("--locked", is_flag=True, help="Write nothing; exit 1 if a lock file would change.")
@click.option("-q", "--quiet", is_flag=True, help="Print only errors and warnings.")
@click.option("-v", "--verbose", is_flag=True, help="Also print the time each file took.")
def build(paths: tuple[str, ...], output: Path | None, locked: bool, quiet: bool, verbose: bool) -> None:
    """Build PATHS (deck files or folders; default decks/) into .apkg files in dist/."""
    if output is not None and output.suffix != ".apkg":
        raise click.BadParameter("the output file must end in .apkg", param_hint="-o/--output")
    try:
        with _progress(enabled=not quiet) as progress:
            result = pipeline.build(list(paths) or ["decks"], output=output, locked=locked, progress=progress)
    except pipeline.UsageError as e:
        raise click.UsageError(escape_surrogates(str(e))) from None
    report(result.diagnostics)
    if result.errors:
        sys.exit(EXIT_INPUT)
    if locked and result.stale:
        for line in result.stale:
            echo(printable(line), err=True)
        echo("the lock files are stale: run `factdeck build` and commit the .lock files", err=True)
        sys.exit(EXIT_INPUT)
    if verbose:
        for path, stage, seconds in result.timings:
            echo(f"  {stage:6} {seconds:8.3f} s  {path}", err=True)
    if quiet:
        return
    for r in result.reports:
        built, ch = r.deck, r.changes
        echo(
            f"{built.deck.id}: {len(built.notes)} notes, {built.card_count} cards -> {printable(str(r.output))}"
        )
        details = []
        if ch.new:
            details.append(f"{len(ch.new)} new")
        if ch.changed:
            details.append(f"{len(ch.changed)} changed: {lockfile.shorten(ch.changed)}")
        if ch.removed:
            details.append(
                f"{len(ch.removed)} removed: {lockfile.shorten(ch.removed)} "
                "(Anki keeps removed notes until the user deletes them)"
            )
        if ch.restyled:
            details.append(f"restyled: {', '.join(ch.restyled)}")
        for line in details:
            echo(f"  {printable(line)}")
        for line in ch.field_changes:
            echo(f"  warning: {printable(line)}")


@cli.command()
@PATHS
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="github: GitHub Actions annotations (::error file=...,line=...::message) on stdout.",
)
def check(paths: tuple[str, ...], fmt: str) -> None:
    """Validate PATHS without writing anything."""
    result = pipeline.check(list(paths) or ["decks"])
    if fmt == "json":
        echo(as_json([d.as_json() for d in result.diagnostics]))
    else:
        if fmt == "github":
            for d in sorted(result.diagnostics):
                echo(d.as_github())
            report_summary(result.diagnostics)
        else:
            report(result.diagnostics)
        if not result.errors:
            notes = sum(len(d.notes) for d in result.decks)
            cards = sum(d.card_count for d in result.decks)
            echo(
                f"ok: {len(result.decks)} deck{'s' * (len(result.decks) != 1)}, {notes} notes, {cards} cards"
            )
    if result.errors:
        sys.exit(EXIT_INPUT)


@cli.command()
@PATHS
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("preview"),
    show_default=True,
    help="The folder to write the site into (created if missing).",
)
def preview(paths: tuple[str, ...], output: Path) -> None:
    """Write a static HTML site showing every card of PATHS (default decks/) as Anki renders it."""
    from .output import WriteFailed
    from .preview import write_site

    result = pipeline.check(list(paths) or ["decks"])
    report(result.diagnostics)
    if result.errors:
        sys.exit(EXIT_INPUT)
    try:
        index = write_site(result.decks, output)
    except pipeline.UsageError as e:
        raise click.UsageError(escape_surrogates(str(e))) from None
    except WriteFailed as e:
        report([Diagnostic(str(e.target), 0, 0, "write", str(e))])
        sys.exit(EXIT_INPUT)
    cards, decks = sum(d.card_count for d in result.decks), len(result.decks)
    echo(f"{cards} card{'s' * (cards != 1)} from {decks} deck{'s' * (decks != 1)} -> {index}")


@cli.command("schema", short_help="Print the JSON Schema of deck files, for editors.")
def schema_command() -> None:
    """Print the JSON Schema of deck files (the one in schema/factdeck-deck.schema.json)."""
    from .schema import schema_text

    echo(schema_text(), nl=False)


def _deck_id_argument(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from .scaffold import deck_id_problem

    problem = deck_id_problem(value)
    if problem:
        raise click.BadParameter(problem)
    return value


@cli.command("new", short_help="Create a deck file with an example of every kind of note.")
@click.argument("deck_id", metavar="DECK-ID", callback=_deck_id_argument)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("decks"),
    show_default=True,
    help="The folder to create the deck file in (created if missing).",
)
def new_command(deck_id: str, directory: Path) -> None:
    """Create DIR/DECK-ID.yaml: a deck that builds as it is, with an example of every kind of note.

    Never overwrites a file.
    """
    from .scaffold import new_deck

    path, problems = new_deck(deck_id, directory)
    if problems:
        report(problems)
        sys.exit(EXIT_INPUT)
    echo(f"created {path}: edit it, then run `factdeck check {path}`")


@cli.command("stats", short_help="Count notes and cards by type and tag; list notes without sources.")
@PATHS
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def stats_command(paths: tuple[str, ...], fmt: str) -> None:
    """Per deck of PATHS (default decks/): notes and cards by type, notes by tag, notes without sources."""
    from . import stats

    result = pipeline.check(list(paths) or ["decks"])
    if result.errors:
        report(result.diagnostics)
        sys.exit(EXIT_INPUT)
    decks = [stats.deck_stats(d) for d in result.decks]
    if fmt == "json":
        echo(as_json(stats.as_json(decks), ensure_ascii=False))
    else:
        echo(stats.format_text(decks))


@cli.command("diff", short_help="List notes added, changed and removed since a package or git revision.")
@click.argument("args", nargs=-1, metavar="[OLD.apkg] [PATH]...", type=click.Path(path_type=str))
@click.option(
    "--rev", metavar="GITREV", help="Compare with the deck files at this git revision instead of a package."
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def diff_command(args: tuple[str, ...], rev: str | None, fmt: str) -> None:
    """Which notes rebuilding PATHS (default decks/) adds (+), changes (~) and removes (-), by note id,
    compared with the package OLD.apkg or, with --rev, with the deck files at a git revision.

    Anki's import never deletes notes: tell users which removed notes to delete. Exits 0 whether
    or not anything differs, 1 when an input cannot be read, 2 on usage errors.
    """
    from . import diff
    from .output import recover

    if rev is None:
        if not args:
            raise click.UsageError("give the old package (factdeck diff OLD.apkg [PATH]...) or --rev GITREV")
        if Path(args[0]).suffix in pipeline.DECK_SUFFIXES:
            raise click.UsageError(
                f"{args[0]} is a deck file, not a package; to compare with an earlier "
                "version in git, use --rev GITREV"
            )
        old_name, paths = args[0], list(args[1:]) or ["decks"]
        recover([Path(old_name).parent])  # a build killed while renaming it is finished first
        old = diff.read_package(Path(old_name))
    else:
        packages = [a for a in args if Path(a).suffix == ".apkg"]
        if packages:
            raise click.UsageError(f"{packages[0]}: give either an old package or --rev, not both")
        old_name, paths = rev, list(args) or ["decks"]
        recover([])  # working folders killed diffs left in TMPDIR
        try:
            old = diff.read_revision(rev, paths)
        except diff.BadRevision as e:
            raise click.BadParameter(str(e), param_hint="--rev") from None
    result = pipeline.check(paths)
    if result.errors or any(d.severity == "error" for d in old.diagnostics):
        report(old.diagnostics + result.diagnostics)
        sys.exit(EXIT_INPUT)
    changes = diff.compare(old, diff.built_side(result.decks))
    if fmt == "json":
        echo(json_printable(as_json(diff.as_json(changes, old_name), ensure_ascii=False)))
    else:
        echo(diff.format_text(changes))


class Interrupted(BaseException):
    """SIGINT or SIGTERM: unwinds like KeyboardInterrupt, so every temporary file is removed,
    but is not KeyboardInterrupt, which click would turn into "Aborted!" and exit 1."""


def _interrupt(signum: int, frame: object) -> NoReturn:
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.SIG_IGN)  # once is enough: let the cleanup finish
    raise Interrupted


def fail(message: str, code: int) -> NoReturn:
    echo(f"factdeck: {message}", err=True)
    sys.exit(code)


@cli.command("sync", short_help="Update an Anki collection field by field, keeping the learner's edits.")
@click.argument("sources", nargs=-1, metavar="[PATH ...|PACKAGE.apkg]", type=click.Path(path_type=str))
@click.option(
    "--collection",
    "collection_path",
    required=True,
    type=click.Path(path_type=Path),
    help="The Anki collection: collection.anki2 in the profile's folder.",
)
@click.option("--dry-run", is_flag=True, help="Print the full report; write nothing.")
@click.option(
    "--removed",
    type=click.Choice(["tag", "suspend", "delete"]),
    default="tag",
    show_default=True,
    help="What to do with notes the deck removed: tag them factdeck::removed, also suspend their cards, or delete them.",
)
@click.option("--yes", is_flag=True, help="Do not ask before deleting notes or changing note type schemas.")
@click.option("--theirs", is_flag=True, help="Settle every conflict by keeping the collection's text.")
@click.option("--ours", is_flag=True, help="Settle every conflict by taking the new text.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def sync_command(
    sources: tuple[str, ...],
    collection_path: Path,
    dry_run: bool,
    removed: str,
    yes: bool,
    theirs: bool,
    ours: bool,
    fmt: str,
) -> None:
    """Merge the decks of PATHS (default decks/), or a package factdeck built, into an Anki
    collection, field by field: fields the learner edited stay theirs, every other field takes
    the new text, conflicts are reported and tagged. Never touches review history; backs the
    collection up first. Anki must be closed.
    """
    from . import sync
    from .output import private_workdir, recover

    if theirs and ours:
        raise click.UsageError("--theirs and --ours settle conflicts in opposite ways; give one of them")
    suffixes = [Path(s).suffix.lower() for s in sources]
    if ".colpkg" in suffixes:
        raise click.UsageError(
            "a .colpkg is a whole collection (an Anki backup), not a release: give the deck's .apkg"
        )
    if ".apkg" in suffixes and len(sources) > 1:
        raise click.UsageError("give one package alone, or deck files and folders")
    prefer = "theirs" if theirs else "ours" if ours else None

    def confirm(asks: list[str]) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            click.echo(
                f"factdeck sync would {'; and '.join(asks)}: run it again with --yes to agree", err=True
            )
            return False
        return all(click.confirm(f"{ask[0].upper()}{ask[1:]}?", err=True) for ask in asks)

    recover([])  # working folders killed syncs left in TMPDIR
    with private_workdir(purpose="sync") as tmp:
        result, diagnostics = sync.run(
            list(sources) or ["decks"],
            collection_path,
            Path(tmp),
            dry_run=dry_run,
            removal=removed,  # type: ignore[arg-type]
            prefer=prefer,  # type: ignore[arg-type]
            confirm=confirm,
        )
    report(diagnostics)
    if result is None:
        sys.exit(EXIT_INPUT)
    echo(result.json_text() if fmt == "json" else result.text())


@cli.command("import", short_help="Turn an Anki package into deck files that rebuild it exactly.")
@click.argument("package", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("decks"),
    show_default=True,
    help="The folder to write the deck files, locks and media into (created if missing).",
)
@click.option("--dry-run", is_flag=True, help="Check and summarise the import; write nothing.")
def import_command(package: Path, out_dir: Path, dry_run: bool) -> None:
    """Write PACKAGE (.apkg or .colpkg, any Anki version) as deck files: one per top-level deck,
    with its note types, media and a lock, so that building them and importing the result over
    the collection the package came from changes nothing.

    Never overwrites a file. Needs Anki's own library: pip install 'factdeck[anki]'.
    """
    from .deckimport import import_package, summary

    if package.suffix.lower() not in (".apkg", ".colpkg"):
        raise click.BadParameter("give an Anki package: a .apkg or .colpkg file", param_hint="PACKAGE")
    result = import_package(package, out_dir, dry_run=dry_run)
    report(result.diagnostics)
    if result.errors:
        sys.exit(EXIT_INPUT)
    echo(summary(result, dry_run))


def _failure(e: BaseException) -> tuple[str, int]:
    """The one line and exit code for an exception that reached the top."""
    if isinstance(e, (Interrupted, KeyboardInterrupt)):
        return "interrupted", EXIT_INTERRUPTED
    if pipeline.out_of_memory(e):
        where = getattr(e, "__notes__", None)
        if not where:  # past the point where a file is known: name the command and its files
            return f"out of memory running `factdeck {shlex.join(sys.argv[1:])}`", EXIT_INPUT
        return f"out of memory while processing {where[0]}", EXIT_INPUT
    if isinstance(e, OSError):
        where = f"{e.filename}: " if e.filename is not None else ""
        return f"{where}{e.strerror or e}", EXIT_INPUT
    return f"internal error ({type(e).__name__}: {e}); please report this bug at {BUG_URL}", EXIT_INTERNAL


def main() -> None:
    """Entry point, and the one place failures that are not the input's become messages.

    Interrupted (SIGINT, SIGTERM, SIGHUP): one line, exit 130, nothing left behind. Out of
    memory, or a file the system refuses: one line, exit 1. Anything else is a bug: one line,
    exit 70, never a traceback.

    While the command runs, an interrupt unwinds it (``Interrupted``), so that what it was
    writing is removed; before and after, there is nothing to remove and ``entry.exit_now``
    ends the process at once. The handlers change inside the ``try``, so that an interrupt
    raised at any moment in between is caught here.
    """
    reserve = bytearray(1 << 20)  # given back when memory runs out, to print the message
    try:
        try:
            handle(_interrupt)
            cli.main(standalone_mode=True)
        finally:
            handle(exit_now)  # the command's cleanup is over: from here on, stop at once
    except SystemExit:
        raise
    except BaseException as e:
        del reserve
        pipeline.drop_frames(e)
        fail(*_failure(e))
