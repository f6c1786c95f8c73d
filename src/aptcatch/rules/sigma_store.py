"""Where Sigma rule sets live: aptcatch's own bundled set, and one third-party set installed by
``aptcatch rules update`` into the data directory.

Layout of an installed set under ``<data dir>/sigma/``::

    versions/<UTC time>-<sha256[:12]>/manifest.json   source, archive sha256, date, counts, skipped
    versions/<UTC time>-<sha256[:12]>/rules/*.yml     one file per rule, named <rule id>.yml
    current                                           the name of the active version

An update validates every candidate (one YAML mapping with ``title`` and ``detection`` that pySigma
parses), writes the accepted rules under names derived from their id (or content hash), never from
the archive's member names, into a new staging folder, renames it into ``versions/`` and only then
replaces ``current`` with :func:`os.replace`, which is atomic. Until that moment the previous set is
the active one, and any failure removes the staging folder and leaves it so. The previous version is
kept after a switch; older ones are pruned.

The data directory is ``platformdirs.user_data_dir("aptcatch")`` (where the knowledge base lives),
unless ``APTCATCH_DATA_DIR`` or an explicit ``data_dir`` argument names another one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

from aptcatch.paths import DATA_DIR_ENV, data_dir
from aptcatch.rules.sigma_archive import ArchiveLimits, Member, RulesError, load_source, read_members

__all__ = [
    "DATA_DIR_ENV",
    "MANIFEST_FORMAT",
    "ArchiveLimits",
    "InstalledSet",
    "RulesError",
    "bundled_rules_dir",
    "data_dir",
    "installed_rules_dir",
    "installed_set",
    "update_rules",
]

MANIFEST_FORMAT = "aptcatch.sigma-ruleset/1"
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_VERSION = re.compile(r"^[0-9]{8}T[0-9]{12}Z-[0-9a-f]{12}(-[0-9]+)?$")
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def bundled_rules_dir() -> Path:
    """The folder of aptcatch's own Sigma rules (package data)."""
    return Path(__file__).resolve().parent / "sigma"


def _home(base: Path | None) -> Path:
    return data_dir(base) / "sigma"


@dataclass(frozen=True)
class InstalledSet:
    """The active installed rule set and its manifest."""

    version: str
    folder: Path
    manifest: dict[str, Any]

    @property
    def rules_dir(self) -> Path:
        return self.folder / "rules"

    @property
    def rule_count(self) -> int:
        return int(self.manifest.get("rule_count", 0))

    @property
    def skipped(self) -> list[dict[str, str]]:
        return list(self.manifest.get("skipped", []))


def _current_name(home: Path) -> str | None:
    try:
        name = (home / "current").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return name if _VERSION.match(name) else None


def installed_set(data_dir: Path | None = None) -> InstalledSet | None:
    """The active installed set, or None when none was installed (or its folder is gone)."""
    home = _home(data_dir)
    name = _current_name(home)
    if name is None:
        return None
    folder = home / "versions" / name
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        return None
    if not (folder / "rules").is_dir():
        return None
    return InstalledSet(name, folder, manifest)


def installed_rules_dir(data_dir: Path | None = None) -> Path | None:
    """The folder of the active installed set's rule files, or None when none is installed."""
    current = installed_set(data_dir)
    return current.rules_dir if current is not None else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def check_rule(data: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """(rule document, None) when ``data`` is one Sigma detection rule pySigma accepts, else (None, why)."""
    try:
        docs = list(yaml.load_all(data.decode("utf-8-sig"), Loader=_LOADER))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        return None, f"not valid YAML: {_first_line(exc)}"
    docs = [d for d in docs if d is not None]
    if len(docs) != 1:
        return None, f"{len(docs)} YAML documents, expected one rule"
    doc = docs[0]
    if not isinstance(doc, dict):
        return None, "not a YAML mapping"
    if not isinstance(doc.get("title"), str) or not doc["title"].strip():
        return None, "no title"
    if "correlation" in doc and "detection" not in doc:
        return None, "a correlation rule (not installed)"
    if not isinstance(doc.get("detection"), dict) or "condition" not in doc["detection"]:
        return None, "no detection with a condition"
    from sigma.exceptions import SigmaError
    from sigma.rule import SigmaRule

    try:
        rule = SigmaRule.from_dict(doc)
        for condition in rule.detection.parsed_condition:
            condition.parse()
    except (SigmaError, ValueError, TypeError, KeyError, AttributeError) as exc:
        return None, f"pySigma: {_first_line(exc)}"
    return doc, None


def _rule_date(doc: dict[str, Any]) -> str | None:
    for key in ("modified", "date"):
        value = doc.get(key)
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, str) and re.fullmatch(r"\d{4}[-/]\d{2}[-/]\d{2}", value.strip()):
            return value.strip().replace("/", "-")
    return None


@dataclass
class _Plan:
    files: dict[str, bytes]  # file name on disk -> content
    mapping: dict[str, str]  # member name -> file name
    skipped: list[dict[str, str]]
    newest: str | None


def _plan(members: list[Member]) -> _Plan:
    plan = _Plan({}, {}, [], None)
    by_hash: dict[str, str] = {}
    for m in members:
        if m.data is None:
            plan.skipped.append({"member": m.name, "reason": m.skipped or "unreadable"})
            continue
        doc, why = check_rule(m.data)
        if doc is None:
            plan.skipped.append({"member": m.name, "reason": why or "invalid"})
            continue
        digest = hashlib.sha256(m.data).hexdigest()
        if digest in by_hash:
            plan.skipped.append({"member": m.name, "reason": f"same content as {by_hash[digest]}"})
            continue
        by_hash[digest] = m.name
        rule_id = str(doc.get("id", ""))
        name = f"{rule_id.lower()}.yml" if _UUID.match(rule_id) else f"sha256-{digest[:24]}.yml"
        if name in plan.files:
            name = f"sha256-{digest[:24]}.yml"
        plan.files[name] = m.data
        plan.mapping[m.name] = name
        day = _rule_date(doc)
        if day is not None and (plan.newest is None or day > plan.newest):
            plan.newest = day
    return plan


def _write_pointer(home: Path, name: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".current-", dir=home)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(name + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, home / "current")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _prune(versions: Path, keep: set[str]) -> None:
    """Remove finished versions older than the ones kept (newer ones may be another update's)."""
    oldest_kept = min(keep)
    for folder in versions.iterdir():
        if _VERSION.match(folder.name) and folder.name not in keep and folder.name < oldest_kept:
            shutil.rmtree(folder, ignore_errors=True)


def update_rules(
    source: str,
    data_dir: Path | None = None,
    limits: ArchiveLimits | None = None,
    now: datetime | None = None,
) -> InstalledSet:
    """Fetch/read ``source`` (URL, archive file or folder), install its valid rules as the active set.

    Raises :class:`RulesError` (naming the source) when nothing usable could be read; the previously
    installed set then stays active and untouched.
    """
    limits = limits or ArchiveLimits()
    loaded = load_source(source, limits)
    scan = read_members(loaded, limits)
    plan = _plan(scan.members)
    if not plan.files:
        reasons = sorted({s["reason"] for s in plan.skipped})[:3]
        detail = f" ({len(plan.skipped)} candidates skipped: {'; '.join(reasons)})" if plan.skipped else ""
        raise RulesError(f"{source}: no valid Sigma rule found{detail}")
    if loaded.data is not None:
        sha256 = hashlib.sha256(loaded.data).hexdigest()
    else:  # a folder: digest of the accepted files' names and contents
        h = hashlib.sha256()
        for member, fname in sorted(plan.mapping.items()):
            h.update(member.encode() + b"\0" + hashlib.sha256(plan.files[fname]).digest())
        sha256 = h.hexdigest()
    when = (now or datetime.now(UTC)).astimezone(UTC)
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "source": source,
        "source_kind": loaded.kind,
        "sha256": sha256,
        "installed_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "rule_count": len(plan.files),
        "newest_rule_date": plan.newest,
        "skipped_count": len(plan.skipped),
        "ignored_entries": scan.ignored_entries,
        "files": plan.mapping,
        "skipped": plan.skipped,
    }
    home = _home(data_dir)
    versions = home / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    previous = _current_name(home)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=versions))
    try:
        (staging / "rules").mkdir()
        for fname, content in plan.files.items():
            (staging / "rules" / fname).write_bytes(content)
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        base = f"{when.strftime('%Y%m%dT%H%M%S%f')}Z-{sha256[:12]}"
        name, n = base, 1
        while (versions / name).exists():
            name, n = f"{base}-{n}", n + 1
        os.rename(staging, versions / name)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _write_pointer(home, name)
    _prune(versions, {name} | ({previous} if previous else set()))
    installed = installed_set(data_dir)
    if installed is None or installed.version != name:  # pragma: no cover - a concurrent update won
        raise RulesError(f"{source}: installed as {name}, but another update replaced it meanwhile")
    return installed
