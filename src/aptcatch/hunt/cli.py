"""``aptcatch hunt LOGS...``: read logs, sweep them for known indicators, report alerts and evidence.

Exit codes: 0 no alert, 1 alerts, 3 an input could not be read at all (missing, unknown format,
unreadable), 64 usage error. Bad lines inside a file are counted in the summary, not an exit code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click


def _expand(paths: tuple[Path, ...]) -> tuple[list[Path], list[str]]:
    files, missing = [], []
    for p in paths:
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file() and not f.is_symlink())
        elif p.is_file():
            files.append(p)
        else:
            missing.append(str(p))
    return files, missing


@click.command()
@click.argument("logs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "evtx", "windows-json", "zeek-json", "zeek-tsv", "squid", "json", "csv"]),
    default="auto",
    show_default=True,
    help="Force the log format.",
)
@click.option(
    "--mapping",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Field mapping (YAML/JSON: source field -> normalised field) for CSV/JSON logs.",
)
@click.option(
    "--iocs",
    "ioc_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Ad-hoc indicator list: value or value;comment per line (repeatable).",
)
@click.option("--no-knowledge", is_flag=True, help="Sweep only the --iocs lists, not the knowledge base.")
@click.option("--json", "as_json", is_flag=True, help="Print the alerts as JSON lines on stdout.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the alerts (JSON lines) here.",
)
@click.option(
    "--summary",
    "summary_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the summary (JSON) here.",
)
@click.option(
    "--evidence",
    "evidence_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the evidence document of the hits here.",
)
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), help="Knowledge store file.")
def hunt(
    logs: tuple[Path, ...],
    fmt: str,
    mapping: Path | None,
    ioc_files: tuple[Path, ...],
    no_knowledge: bool,
    as_json: bool,
    output: Path | None,
    summary_path: Path | None,
    evidence_path: Path | None,
    db: Path | None,
) -> None:
    """Sweep LOGS (files or folders: EVTX, Sysmon JSON, Zeek, Squid, CSV/JSON) for known indicators."""
    from rich.console import Console

    from aptcatch.hunt import ioc
    from aptcatch.hunt import output as out
    from aptcatch.hunt.readers import load_mapping, read_log

    if no_knowledge and not ioc_files:
        raise click.UsageError("--no-knowledge needs at least one --iocs list")
    files, missing = _expand(logs)
    if not files and missing:
        raise click.UsageError(f"no such file or folder: {', '.join(missing)}")
    try:
        fields = load_mapping(mapping) if mapping else None
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    results = [read_log(f, None if fmt == "auto" else fmt, fields) for f in files]
    store: Any = None
    if not no_knowledge:
        from aptcatch.knowledge import open_store

        store = open_store(db)
    try:
        indicators = ioc.load_indicators(store, ioc_files)
        matches = ioc.sweep(results, indicators)
        context = out.provenance(matches, indicators, store)
    finally:
        if store is not None:
            store.close()
    alert_docs = out.alerts(matches, results, context)
    doc = out.summary(alert_docs, results, indicators)
    doc["missing"] = missing
    lines = "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in alert_docs)
    if output is not None:
        output.write_text(lines, encoding="utf-8")
    if summary_path is not None:
        summary_path.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if evidence_path is not None:
        ev = out.evidence(alert_docs)
        evidence_path.write_text(
            ev.model_dump_json(by_alias=True, indent=2, exclude_none=True) + "\n", encoding="utf-8"
        )
    if as_json:
        sys.stdout.write(lines)
    else:
        out.render(doc, Console())
    unreadable = bool(missing) or any(r.rows == 0 and r.errors for r in results)
    sys.exit(3 if unreadable else 1 if alert_docs else 0)
