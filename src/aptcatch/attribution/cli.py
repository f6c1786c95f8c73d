"""``aptcatch attribute``, ``aptcatch bench attribution`` and the ``scan --attribute`` path.

Conventions as every command (docs/cli.md): ``--json`` prints the document on stdout, ``-o FILE``
writes it, the terminal view and logs go elsewhere (view on stdout without ``--json``, notes on
stderr). Exit codes: 0 done, 64 usage (bad option, missing file), 65 malformed evidence.

The click commands are registered by ``aptcatch.cli`` (``cli.add_command(attribute)``,
``cli.add_command(bench)``); this module imports ``aptcatch.cli`` only inside functions because
``aptcatch.cli`` imports it to register them.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from aptcatch.attribution.evidence_io import EvidenceError, load_evidence, store_technique_resolver
from aptcatch.attribution.from_scan import evidence_from_scan
from aptcatch.attribution.navigator import layer_for_result
from aptcatch.attribution.render import attribution_document, render_attribution
from aptcatch.knowledge.store import KnowledgeStore
from aptcatch.model.attribution import AttributionResult
from aptcatch.model.evidence import Evidence
from aptcatch.model.scan import ItemResult

__all__ = [
    "AttributionOptions",
    "attribute",
    "attribute_scan_items",
    "bench",
    "parse_as_of",
    "run_attribution",
    "scan_attribution",
]

EXIT_OK = 0
err = Console(stderr=True)


@dataclass(frozen=True, slots=True)
class AttributionOptions:
    """What an analyst controls on ``attribute``, ``scan --attribute`` and the benchmark."""

    top: int = 10
    exclude_sources: tuple[str, ...] = ()
    as_of: date | None = None
    db: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def filters(self) -> dict[str, list[str] | str | None]:
        return {
            "exclude_sources": list(self.exclude_sources),
            "as_of": self.as_of.isoformat() if self.as_of else None,
        }


def _open(options: AttributionOptions) -> KnowledgeStore:
    from aptcatch.knowledge.kb import open_store

    return open_store(options.db)


def _engine(evidence: Evidence, store: KnowledgeStore, options: AttributionOptions) -> AttributionResult:
    """The engine call (``aptcatch.attribution.engine`` / ``profiles``); one seam for tests to replace."""
    from aptcatch.attribution import engine, profiles

    profs = profiles.load_profiles(store, exclude_sources=options.exclude_sources, as_of=options.as_of)
    return engine.attribute(evidence, profs, top=options.top)


def _engine_profile(
    result: AttributionResult, store: KnowledgeStore, options: AttributionOptions
) -> set[str] | None:
    """The top candidate's techniques as the engine's (cached, filtered) profiles hold them."""
    if not result.candidates:
        return None
    try:
        from aptcatch.attribution import profiles
    except ImportError:  # pragma: no cover - the engine package is always installed with this module
        return None
    profs = profiles.load_profiles(store, exclude_sources=options.exclude_sources, as_of=options.as_of)
    group = profs.groups.get(result.candidates[0].id)
    return set(group.values("technique")) if group is not None else None


def run_attribution(
    evidence: Evidence, store: KnowledgeStore, options: AttributionOptions | None = None
) -> AttributionResult:
    """Attribute checked evidence; the result records the filters in force."""
    opts = options or AttributionOptions()
    result = _engine(evidence, store, opts)
    if not any(result.filters.values()) and (opts.exclude_sources or opts.as_of):
        result = result.model_copy(update={"filters": opts.filters()})
    return result


def attribute_scan_items(
    items: Sequence[ItemResult],
    options: AttributionOptions | None = None,
    *,
    store: KnowledgeStore | None = None,
) -> AttributionResult:
    """``scan --attribute``: the scan results as one incident's evidence, attributed.

    Technique ids the knowledge base does not know are left out (a scan must not fail on them).
    """
    opts = options or AttributionOptions()
    kb = store if store is not None else _open(opts)
    evidence = evidence_from_scan(items, resolve_technique=store_technique_resolver(kb))
    return run_attribution(evidence, kb, opts)


def parse_as_of(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    """``--as-of``: an ISO date (a callback: click's ParamType is generic only from 8.2 on)."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO date (YYYY-MM-DD)") from None


def _emit(document: dict[str, Any], as_json: bool, output: Path | None) -> None:
    from aptcatch.cli import emit_json

    emit_json(document, as_json, output)


def _write_json(path: Path, document: dict[str, Any]) -> None:
    import json

    path.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    err.print(f"wrote {path}", style="dim")


@click.command("attribute")
@click.argument(
    "evidence_file",
    metavar="EVIDENCE.json|BUNDLE.json",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option("--json", "as_json", is_flag=True, help="Print the JSON attribution document on stdout.")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the JSON document here."
)
@click.option(
    "--navigator",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write an ATT&CK Navigator layer (observed techniques vs. the top candidate's profile).",
)
@click.option(
    "--top", type=click.IntRange(1, 1000), default=10, show_default=True, help="Candidates to rank."
)
@click.option(
    "--exclude-source",
    "exclude_sources",
    multiple=True,
    metavar="PATTERN",
    help="Leave out every claim whose source, citation name or URL matches (repeatable).",
)
@click.option(
    "--as-of",
    callback=parse_as_of,
    metavar="YYYY-MM-DD",
    help="Use only what the sources had recorded by this date.",
)
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), help="Knowledge store file.")
def attribute(
    evidence_file: Path,
    as_json: bool,
    output: Path | None,
    navigator: Path | None,
    top: int,
    exclude_sources: tuple[str, ...],
    as_of: date | None,
    db: Path | None,
) -> None:
    """Rank the threat groups that could be behind the evidence (evidence document or STIX 2.1 bundle)."""
    options = AttributionOptions(top=top, exclude_sources=exclude_sources, as_of=as_of, db=db)
    store = _open(options)
    try:
        loaded = load_evidence(evidence_file, resolve_technique=store_technique_resolver(store))
    except EvidenceError as exc:
        err.print(f"[red]error:[/] {exc}", markup=True, highlight=False)
        from aptcatch import cli as root

        sys.exit(root.EXIT_DATAERR)
    for note in loaded.notes:
        err.print(f"note: {note}", style="dim", markup=False, highlight=False)
    result = run_attribution(loaded.evidence, store, options)
    if as_json or output is not None:
        _emit(attribution_document(result), as_json, output)
    if navigator is not None:
        layer = layer_for_result(
            result,
            loaded.evidence.techniques,
            store,
            profile=_engine_profile(result, store, options),
            exclude_sources=exclude_sources,
            as_of=as_of,
        )
        _write_json(navigator, layer)
    if not as_json:
        render_attribution(result, Console(), top=top, title=f"Attribution of {evidence_file.name}")
    sys.exit(EXIT_OK)


@click.group("bench")
def bench() -> None:
    """Reproducible benchmarks that run on the installed knowledge base."""


@bench.command("attribution")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON benchmark report on stdout.")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the JSON report here."
)
@click.option(
    "--exclude-source", "exclude_sources", multiple=True, metavar="PATTERN", help="Leave out matching claims."
)
@click.option(
    "--as-of",
    callback=parse_as_of,
    metavar="YYYY-MM-DD",
    help="Use only what the sources had recorded by this date.",
)
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), help="Knowledge store file.")
def bench_attribution(
    as_json: bool, output: Path | None, exclude_sources: tuple[str, ...], as_of: date | None, db: Path | None
) -> None:
    """ATT&CK campaign hold-out (leak-free), open set and second source: top-k, MRR, ECE, Brier."""
    from aptcatch.attribution.bench import run_benchmark

    options = AttributionOptions(exclude_sources=exclude_sources, as_of=as_of, db=db)
    report = run_benchmark(_open(options), exclude_sources=exclude_sources, as_of=as_of)
    if as_json or output is not None:
        _emit(report.to_dict(), as_json, output)
    if not as_json:
        sys.stdout.write(report.format_table().rstrip("\n") + "\n")
    sys.exit(EXIT_OK)


def scan_attribution(
    items: Sequence[ItemResult],
    options: AttributionOptions,
    *,
    console: Console | None = None,
    show: bool = True,
) -> dict[str, Any]:
    """For ``scan --attribute``: attribute, print the terminal view (unless ``show`` is false), and
    return the JSON document to put under the scan document's ``attribution`` key."""
    result = attribute_scan_items(items, options)
    if show:
        render_attribution(
            result, console or Console(), top=options.top, title="Attribution of the scanned items"
        )
    return attribution_document(result)
