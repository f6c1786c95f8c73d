"""``aptcatch rules``: the Sigma rule sets the hunt can use, where they are, and updating the third-party one.

``rules update --from URL|FILE|FOLDER`` installs a SigmaHQ release archive (zip or tar) or a folder of
rules into the data directory; ``rules list`` shows the bundled and the installed set; ``rules path``
prints a set's folder for scripts. Every command takes ``--data-dir`` (default ``$APTCATCH_DATA_DIR`` or
the platform's user data folder) and ``--json``. Exit codes: 0 done, 1 no installed set (``path
--installed``), 64 usage, 65 the source could not be fetched or read (the installed set was left as it
was).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from aptcatch.rules.sigma_store import (
    ArchiveLimits,
    InstalledSet,
    RulesError,
    bundled_rules_dir,
    data_dir,
    installed_set,
    update_rules,
)

EXIT_NOT_FOUND = 1
EXIT_DATAERR = 65
err = Console(stderr=True)

_data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="aptcatch's data directory (default: $APTCATCH_DATA_DIR or the platform's user data folder).",
)
_json_option = click.option("--json", "as_json", is_flag=True, help="Print the JSON document on stdout.")


def _emit(doc: dict[str, Any], as_json: bool, output: Path | None) -> None:
    from aptcatch.cli import emit_json  # late: aptcatch.cli imports this module to register the group

    emit_json(doc, as_json, output)


def _installed_doc(current: InstalledSet) -> dict[str, Any]:
    m = current.manifest
    return {
        "name": "installed",
        "path": str(current.rules_dir),
        "version": current.version,
        "rules": current.rule_count,
        "source": m.get("source"),
        "sha256": m.get("sha256"),
        "installed_at": m.get("installed_at"),
        "newest_rule_date": m.get("newest_rule_date"),
        "skipped": m.get("skipped_count", len(current.skipped)),
    }


def _bundled_doc() -> dict[str, Any]:
    from aptcatch import __version__

    folder = bundled_rules_dir()
    return {
        "name": "bundled",
        "path": str(folder),
        "version": f"aptcatch {__version__}",
        "rules": len(list(folder.glob("*.yml"))),
        "source": "aptcatch (written by the project)",
    }


@click.group()
def rules() -> None:
    """Sigma rule sets for the hunt: the bundled lure-chain rules and an installed third-party set."""


@rules.command()
@click.option(
    "--from",
    "source",
    required=True,
    metavar="URL|FILE|FOLDER",
    help="A SigmaHQ release archive (e.g. sigma_core.zip) by http(s) URL or path, a .tar.gz, or a folder.",
)
@_data_dir_option
@_json_option
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the JSON here.")
@click.option(
    "--max-size",
    type=click.IntRange(1),
    default=ArchiveLimits.max_archive_bytes,
    show_default=True,
    help="Bytes; a larger download or archive is refused.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.1),
    default=ArchiveLimits.timeout,
    show_default=True,
    help="Seconds one network operation may take.",
)
@click.option("--show-skipped", is_flag=True, help="List every skipped member and why.")
def update(
    source: str,
    data_dir: Path | None,
    as_json: bool,
    output: Path | None,
    max_size: int,
    timeout: float,
    show_skipped: bool,
) -> None:
    """Install a third-party Sigma rule set (replaces the previous one once it is complete)."""
    limits = ArchiveLimits(max_archive_bytes=max_size, timeout=timeout)
    try:
        current = update_rules(source, data_dir=data_dir, limits=limits)
    except RulesError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        err.print("the installed rule set was left as it was", style="dim")
        sys.exit(EXIT_DATAERR)
    doc = {"schema": "aptcatch.rules.update/1", **_installed_doc(current), "skipped_members": current.skipped}
    if as_json or output is not None:
        _emit(doc, as_json, output)
    if not as_json:
        err.print(
            f"installed {current.rule_count} rules from {source} into {current.rules_dir}"
            f" ({len(current.skipped)} skipped)",
            highlight=False,
        )
        for s in current.skipped if show_skipped else current.skipped[:10]:
            err.print(f"  skipped {s['member']}: {s['reason']}", style="dim", highlight=False, markup=False)
        if not show_skipped and len(current.skipped) > 10:
            err.print(f"  … and {len(current.skipped) - 10} more (--show-skipped)", style="dim")


@rules.command(name="list")
@_data_dir_option
@_json_option
def list_sets(data_dir: Path | None, as_json: bool) -> None:
    """Show the bundled set and the installed set: where, how many rules, source and date."""
    current = installed_set(data_dir)
    sets = [_bundled_doc()] + ([_installed_doc(current)] if current else [])
    if as_json:
        _emit({"schema": "aptcatch.rules.list/1", "sets": sets}, True, None)
        return
    table = Table(title="Sigma rule sets")
    for col in ("set", "rules", "source", "date", "path"):
        table.add_column(col, overflow="fold")
    for s in sets:
        table.add_row(
            s["name"],
            str(s["rules"]),
            str(s["source"]),
            str(s.get("installed_at") or s["version"]),
            s["path"],
        )
    Console().print(table)
    if current is None:
        Console().print(
            f"no third-party set installed under {data_dir_of(data_dir)}; "
            "get one with: aptcatch rules update --from URL|FILE",
            style="dim",
            highlight=False,
        )


def data_dir_of(override: Path | None) -> Path:
    return data_dir(override) / "sigma"


@rules.command()
@click.option("--installed", "which", flag_value="installed", help="The installed third-party set.")
@click.option("--bundled", "which", flag_value="bundled", default=True, help="aptcatch's own set (default).")
@_data_dir_option
def path(which: str, data_dir: Path | None) -> None:
    """Print the folder of a rule set (for --sigma, editors and scripts)."""
    if which == "bundled":
        click.echo(str(bundled_rules_dir()))
        return
    current = installed_set(data_dir)
    if current is None:
        err.print(f"no third-party set installed under {data_dir_of(data_dir)}", highlight=False)
        sys.exit(EXIT_NOT_FOUND)
    click.echo(str(current.rules_dir))
