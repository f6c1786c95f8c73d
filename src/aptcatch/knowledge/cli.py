"""``aptcatch intel``: show, search, look up, import, export and update the knowledge base.

Every command takes ``--json`` (document on stdout), ``-o FILE`` and ``--db PATH``; logs go to stderr.
Exit codes: 0 done, 1 nothing found (unknown name, no lookup hit), 64 usage, 65 malformed input
(a feed or download that could not be read; nothing of it was stored).
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from aptcatch.knowledge import analysis, views
from aptcatch.knowledge.errors import FeedError, KnowledgeError
from aptcatch.knowledge.export import export_misp, export_stix
from aptcatch.knowledge.importers import import_paths
from aptcatch.knowledge.kb import open_store
from aptcatch.knowledge.models import Entity
from aptcatch.knowledge.snapshot import load_snapshot
from aptcatch.knowledge.sqlite_store import SqliteStore
from aptcatch.knowledge.update import fetch

EXIT_NOT_FOUND = 1
EXIT_DATAERR = 65
F = TypeVar("F", bound=Callable[..., Any])
err = Console(stderr=True)


def _emit(doc: dict[str, Any], as_json: bool, output: Path | None) -> None:
    from aptcatch.cli import emit_json  # late: aptcatch.cli imports this module to register the group

    emit_json(doc, as_json, output)


def common(f: F) -> F:
    @click.option("--json", "as_json", is_flag=True, help="Print the JSON document on stdout.")
    @click.option(
        "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the JSON here."
    )
    @click.option("--db", type=click.Path(dir_okay=False, path_type=Path), help="Knowledge store file.")
    @wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except FeedError as exc:
            err.print(f"[red]error:[/] {exc} (nothing of it was stored)")
            sys.exit(EXIT_DATAERR)
        except KnowledgeError as exc:
            err.print(f"[red]error:[/] {exc}")
            sys.exit(EXIT_DATAERR)

    return wrapper  # type: ignore[return-value]


def _store(db: Path | None) -> SqliteStore:
    return open_store(db)


def _group(store: SqliteStore, name: str) -> Entity:
    found = store.find(name, "group")
    if not found:
        err.print(f"no group known as {name!r}")
        sys.exit(EXIT_NOT_FOUND)
    if len(found) > 1:
        others = ", ".join(e.name for e in found[1:4])
        err.print(f"[yellow]note:[/] {name!r} is also a name of: {others}", highlight=False)
    return found[0]


@click.group()
def intel() -> None:
    """Threat-group knowledge: groups, aliases, software, techniques, indicators — with sources."""


@intel.command()
@click.argument("name")
@common
def show(name: str, as_json: bool, output: Path | None, db: Path | None) -> None:
    """Profile of a group by any of its names or its ATT&CK id (e.g. BITTER, APT-C-08, G1002)."""
    store = _store(db)
    doc = {"schema": "aptcatch.intel.group/1", **analysis.profile(store, _group(store, name))}
    _emit(doc, as_json, output)
    if not as_json:
        views.show_group(Console(), doc)


@intel.command()
@click.option("--country", help="Suspected origin, ISO 3166 alpha-2 (e.g. IN).")
@click.option("--sector", help="Targeted sector slug (e.g. healthcare, government).")
@click.option("--all", "include_inactive", is_flag=True, help="Include revoked/deprecated groups.")
@common
def groups(
    country: str | None,
    sector: str | None,
    include_inactive: bool,
    as_json: bool,
    output: Path | None,
    db: Path | None,
) -> None:
    """List groups by suspected country and targeted sector."""
    store = _store(db)
    found = [g for g in store.entities("group", country, sector) if g.active or include_inactive]
    rows = [views.group_row(g, country, sector) for g in found]
    _emit(
        {"schema": "aptcatch.intel.groups/1", "country": country, "sector": sector, "groups": rows},
        as_json,
        output,
    )
    if not as_json:
        views.groups_table(Console(), rows)


@intel.command()
@click.argument("values", nargs=-1, required=True)
@common
def lookup(values: tuple[str, ...], as_json: bool, output: Path | None, db: Path | None) -> None:
    """Which group, campaign or malware an indicator belongs to, per source (domain, IP, URL, hash...)."""
    store = _store(db)
    hits = store.lookup_many(list(values))
    results = {v: [h.to_dict() for h in hs] for v, hs in hits.items()}
    _emit({"schema": "aptcatch.intel.lookup/1", "results": results}, as_json, output)
    if not as_json:
        views.lookup_view(Console(), results)
    if not any(hits.values()):
        sys.exit(EXIT_NOT_FOUND)


@intel.command(name="import")
@click.argument(
    "feeds", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--group", "group_name", help="Attribute every indicator without a stated owner to this group.")
@click.option("--source", help="Source name recorded on each claim (default: 'feed <folder>/<file>').")
@common
def import_cmd(
    feeds: tuple[Path, ...],
    group_name: str | None,
    source: str | None,
    as_json: bool,
    output: Path | None,
    db: Path | None,
) -> None:
    """Import ATT&CK / MISP galaxy files or indicator feeds (STIX 2.1, MISP event, CSV/TXT)."""
    store = _store(db)
    target = ("group", group_name) if group_name else ("", "")
    results = import_paths(store, list(feeds), target, source)
    for r in results:
        err.print(f"{r.path}: {r.kind}, {r.items} items, {r.new} new claims", highlight=False)
    doc = {
        "schema": "aptcatch.intel.import/1",
        "results": [vars(r) for r in results],
        "counts": store.counts(),
    }
    _emit(doc, as_json, output)


@intel.command()
@click.option("--stix", "stix_file", type=click.Path(dir_okay=False, path_type=Path), help="STIX 2.1 bundle.")
@click.option("--misp", "misp_file", type=click.Path(dir_okay=False, path_type=Path), help="MISP event JSON.")
@click.option(
    "--group", "group_names", multiple=True, help="Only this group (repeatable); default: all active."
)
@common
def export(
    stix_file: Path | None,
    misp_file: Path | None,
    group_names: tuple[str, ...],
    as_json: bool,
    output: Path | None,
    db: Path | None,
) -> None:
    """Export groups, their software/techniques and indicators as STIX 2.1 and/or a MISP event."""
    if not stix_file and not misp_file:
        raise click.UsageError("give --stix FILE and/or --misp FILE")
    store = _store(db)
    chosen = [_group(store, n) for n in group_names] or [g for g in store.entities("group") if g.active]
    names = sorted({n.value for g in chosen for n in g.names})
    inds = store.indicators_of(names) if group_names else store.all_indicators()
    summary: dict[str, Any] = {
        "schema": "aptcatch.intel.export/1",
        "groups": len(chosen),
        "indicators": len(inds),
    }
    if stix_file:
        bundle = export_stix(store, chosen, inds)
        stix_file.write_text(json.dumps(bundle, ensure_ascii=False, indent=1), encoding="utf-8")
        summary["stix"] = {"path": str(stix_file), "objects": len(bundle["objects"])}
    if misp_file:
        info = "aptcatch knowledge export: " + (
            ", ".join(g.name for g in chosen) if group_names else "all groups"
        )
        event = export_misp(chosen if group_names else [], inds, info)
        misp_file.write_text(json.dumps(event, ensure_ascii=False, indent=1), encoding="utf-8")
        summary["misp"] = {"path": str(misp_file), "attributes": len(event["Event"].get("Attribute", []))}
    err.print(f"exported {summary}", highlight=False)
    _emit(summary, as_json, output)


@intel.command()
@click.argument("name")
@common
def timeline(name: str, as_json: bool, output: Path | None, db: Path | None) -> None:
    """Campaigns and reported activity of a group by date, with the source of each event."""
    store = _store(db)
    g = _group(store, name)
    events = analysis.timeline(store, g)
    _emit(
        {"schema": "aptcatch.intel.timeline/1", "group": g.name, "id": g.id, "events": events},
        as_json,
        output,
    )
    if not as_json:
        views.timeline_view(Console(), g.name, events)


@intel.command()
@click.option("--year", type=click.IntRange(1990, 2100), required=True)
@click.option("--top", type=click.IntRange(1, 1000), default=20, show_default=True)
@common
def rank(year: int, top: int, as_json: bool, output: Path | None, db: Path | None) -> None:
    """Most active groups of a year by documented activity (the measure is printed)."""
    store = _store(db)
    rows = analysis.rank(store, year)[:top]
    _emit(
        {"schema": "aptcatch.intel.rank/1", "year": year, "measure": analysis.RANK_MEASURE, "groups": rows},
        as_json,
        output,
    )
    if not as_json:
        views.rank_view(Console(), year, analysis.RANK_MEASURE, rows)


@intel.command()
@click.option("--from", "sources", multiple=True, required=True, help="URL or file (repeatable).")
@click.option("--timeout", type=click.FloatRange(1), default=60.0, show_default=True)
@common
def update(
    sources: tuple[str, ...], timeout: float, as_json: bool, output: Path | None, db: Path | None
) -> None:
    """Refresh from an ATT&CK bundle, MISP galaxy cluster files, feeds or a snapshot (.json.gz)."""
    store = _store(db)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for s in sources:
            err.print(f"fetching {s}", highlight=False)
            paths.append(fetch(s, Path(tmp), timeout=timeout))
        snaps = [p for p in paths if p.name.endswith(".json.gz")]
        for p in snaps:
            results.append({"path": str(p), "kind": "snapshot", **load_snapshot(store, p)})
        rest = [p for p in paths if p not in snaps]
        results += [vars(r) for r in import_paths(store, rest)] if rest else []
    _emit(
        {"schema": "aptcatch.intel.update/1", "results": results, "counts": store.counts()}, as_json, output
    )
    if not as_json:
        err.print(f"updated: {store.counts()}", highlight=False)
