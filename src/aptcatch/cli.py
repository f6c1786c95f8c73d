"""The ``aptcatch`` command line.

Conventions for every command: ``--json`` prints the machine-readable document on stdout instead of the
terminal view, ``-o FILE`` writes it to a file, progress and logs go to stderr. Exit codes are listed in
``EXIT_CODES`` and documented in docs/cli.md.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import date
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from aptcatch import __version__
from aptcatch.attribution.cli import parse_as_of
from aptcatch.capture.engine import ScanConfig, report
from aptcatch.capture.limits import Limits
from aptcatch.capture.runner import expand_inputs, scan_paths
from aptcatch.model.scan import ItemResult, ScanReport

EXIT_CLEAN = 0
EXIT_SUSPICIOUS = 1
EXIT_MALICIOUS = 2
EXIT_INCOMPLETE = 3
EXIT_USAGE = 64
EXIT_DATAERR = 65
EXIT_INTERNAL = 70
EXIT_CODES = {
    EXIT_CLEAN: "every item clean",
    EXIT_SUSPICIOUS: "worst item suspicious",
    EXIT_MALICIOUS: "worst item malicious",
    EXIT_INCOMPLETE: "an input could not be analysed at all (missing, unreadable, over the size limit)",
    EXIT_USAGE: "usage error (bad option or argument)",
    EXIT_DATAERR: "malformed input (a feed or download could not be read; nothing of it was stored)",
    EXIT_INTERNAL: "internal error (a bug: please report it with the traceback)",
}
_VERDICT_EXIT = {"clean": EXIT_CLEAN, "suspicious": EXIT_SUSPICIOUS, "malicious": EXIT_MALICIOUS}

err_console = Console(stderr=True)


def scan_exit_code(items: tuple[ItemResult, ...] | list[ItemResult]) -> int:
    """3 if any input could not be analysed; else the worst verdict (0 clean, 1 suspicious, 2 malicious)."""
    if any(i.errors for i in items):
        return EXIT_INCOMPLETE
    return max((_VERDICT_EXIT[i.verdict] for i in items), default=EXIT_CLEAN)


def emit_json(document: dict[str, Any], as_json: bool, output: Path | None) -> None:
    """Write the machine document to ``output`` and/or stdout according to the shared conventions."""
    text = json.dumps(document, ensure_ascii=False, indent=2)
    if output is not None:
        output.write_text(text + "\n", encoding="utf-8")
        err_console.print(f"wrote {output}", style="dim")
    if as_json:
        sys.stdout.write(text + "\n")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aptcatch")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
def cli(verbose: int) -> None:
    """Catch APT spear-phishing lures, hunt their traces, attribute them with the evidence shown."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the JSON result document on stdout.")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the JSON document here."
)
@click.option(
    "-j", "--jobs", type=click.IntRange(1, 64), default=None, help="Worker processes (default: CPUs)."
)
@click.option(
    "--yara-rules",
    "yara_dirs",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Extra YARA rule folder or file (repeatable); compiled beside the built-in rules.",
)
@click.option("--no-builtin-yara", is_flag=True, help="Do not load aptcatch's own YARA rules.")
@click.option(
    "-p", "--password", "passwords", multiple=True, help="Extra password for encrypted files (repeatable)."
)
@click.option("--max-depth", type=click.IntRange(1, 64), default=Limits.max_depth, show_default=True)
@click.option(
    "--max-file-size",
    type=click.IntRange(1),
    default=Limits.max_file_size,
    show_default=True,
    help="Bytes; larger inputs are reported, not analysed.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.1),
    default=Limits.analyzer_timeout,
    show_default=True,
    help="Seconds one analyser may spend on one artifact.",
)
@click.option(
    "--flagged", "only_flagged", is_flag=True, help="Terminal view: show only suspicious/malicious items."
)
@click.option(
    "--details", is_flag=True, help="Terminal view: show informational findings and every indicator."
)
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
@click.option(
    "--attribute",
    "attribute_",
    is_flag=True,
    help="Attribute the flagged items, as one incident, to threat groups.",
)
@click.option(
    "--exclude-source",
    "exclude_sources",
    multiple=True,
    metavar="PATTERN",
    help="With --attribute: leave out knowledge claims whose source matches (repeatable).",
)
@click.option(
    "--as-of", callback=parse_as_of, metavar="YYYY-MM-DD", help="With --attribute: knowledge as of a date."
)
@click.option(
    "--db", type=click.Path(dir_okay=False, path_type=Path), help="With --attribute: knowledge store file."
)
def scan(
    paths: tuple[Path, ...],
    as_json: bool,
    output: Path | None,
    jobs: int | None,
    yara_dirs: tuple[Path, ...],
    no_builtin_yara: bool,
    passwords: tuple[str, ...],
    max_depth: int,
    max_file_size: int,
    timeout: float,
    only_flagged: bool,
    details: bool,
    no_progress: bool,
    attribute_: bool,
    exclude_sources: tuple[str, ...],
    as_of: date | None,
    db: Path | None,
) -> None:
    """Static triage of lure e-mails and documents: PATHS are files or folders."""
    from aptcatch.report import terminal

    if (exclude_sources or as_of or db) and not attribute_:
        raise click.UsageError("--exclude-source, --as-of and --db go with --attribute")

    config = ScanConfig(
        limits=Limits(max_depth=max_depth, max_file_size=max_file_size, analyzer_timeout=timeout),
        yara_dirs=yara_dirs,
        builtin_yara=not no_builtin_yara,
        passwords=passwords,
    )
    inputs = expand_inputs(paths)
    if not inputs:
        raise click.UsageError("no files found under the given paths")
    n_jobs = jobs or min(len(inputs), _cpus())
    if not no_progress and len(inputs) > 1:
        with Progress(
            TextColumn("scanning"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[last]}", style="dim"),
            console=err_console,
            transient=True,
        ) as bar:
            task = bar.add_task("scan", total=len(inputs), last="")

            def tick(r: ItemResult) -> None:
                bar.update(task, advance=1, last=Path(r.path).name[:40])

            results = scan_paths(inputs, config, jobs=n_jobs, on_result=tick)
    else:
        results = scan_paths(inputs, config, jobs=n_jobs)
    doc: ScanReport = report(results)
    attribution = None
    if attribute_:
        from aptcatch.attribution.cli import AttributionOptions, attribute_scan_items

        options = AttributionOptions(exclude_sources=exclude_sources, as_of=as_of, db=db)
        attribution = attribute_scan_items(doc.items, options)
    if as_json or output is not None:
        document = doc.to_json_dict()
        if attribution is not None:
            from aptcatch.attribution.render import attribution_document

            document["attribution"] = attribution_document(attribution)
        emit_json(document, as_json, output)
    if not as_json:
        terminal.render(doc, Console(), verbose=details, only_flagged=only_flagged)
        if attribution is not None:
            from aptcatch.attribution.render import render_attribution

            render_attribution(attribution, Console(), title="Attribution of the scanned items")
    sys.exit(scan_exit_code(doc.items))


@cli.command()
@click.argument("which", type=click.Choice(["scan"]))
def schema(which: str) -> None:
    """Print the JSON Schema of a result document."""
    sys.stdout.write(json.dumps(ScanReport.model_json_schema(by_alias=True), indent=2) + "\n")


def _cpus() -> int:
    from aptcatch.cores import available_cores

    return available_cores()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: maps click's usage errors to EXIT_USAGE (2 means 'malicious' here)."""
    try:
        cli.main(args=argv, prog_name="aptcatch", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except click.exceptions.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception:
        err_console.print_exception()
        sys.exit(EXIT_INTERNAL)
    sys.exit(EXIT_CLEAN)


from aptcatch.attribution.cli import attribute, bench  # noqa: E402  (they import emit_json lazily)
from aptcatch.hunt.cli import hunt  # noqa: E402
from aptcatch.knowledge.cli import intel  # noqa: E402
from aptcatch.rules.cli import rules  # noqa: E402

cli.add_command(intel)
cli.add_command(hunt)
cli.add_command(attribute)
cli.add_command(bench)
cli.add_command(rules)

if __name__ == "__main__":  # pragma: no cover
    main()
