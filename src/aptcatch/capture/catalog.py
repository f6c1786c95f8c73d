"""The finding catalogue: every finding an analyser can raise, as data.

Finding definitions live in ``capture/data/findings/*.toml`` (one file per analyser family), apart from
the analysers, so that severity, weight, ATT&CK techniques and CVEs can be reviewed and changed without
touching parsing code. Technique names come from ATT&CK Enterprise v18.1 (``techniques.toml``) and CVE
patch advice from ``cves.toml``; the tests check both against their sources.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from aptcatch.model.scan import SEVERITY_ORDER, Severity

_ID = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
_TECH = re.compile(r"^T\d{4}(\.\d{3})?$")
_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$")


@dataclass(frozen=True)
class FindingDef:
    id: str
    title: str
    severity: Severity
    weight: float
    techniques: tuple[str, ...]
    cves: tuple[str, ...]
    description: str
    group: str
    """Findings of one group are facets of the same observation: the verdict counts the group once."""


@dataclass(frozen=True)
class CVEDef:
    id: str
    title: str
    product: str
    fix: str
    reference: str


class CatalogError(ValueError):
    pass


def _data_dir() -> Any:
    return resources.files("aptcatch.capture").joinpath("data")


def _load_toml(name: str) -> dict[str, Any]:
    with _data_dir().joinpath(name).open("rb") as fh:
        return tomllib.load(fh)


@cache
def techniques() -> dict[str, str]:
    """ATT&CK technique id → name for every technique a finding may name."""
    raw = _load_toml("techniques.toml")
    out: dict[str, str] = {}
    for tid, name in raw["techniques"].items():
        if not _TECH.match(tid):
            raise CatalogError(f"techniques.toml: bad technique id {tid!r}")
        out[tid] = str(name)
    return out


@cache
def cves() -> dict[str, CVEDef]:
    raw = _load_toml("cves.toml")
    out: dict[str, CVEDef] = {}
    for cid, entry in raw["cve"].items():
        if not _CVE.match(cid):
            raise CatalogError(f"cves.toml: bad CVE id {cid!r}")
        out[cid] = CVEDef(
            id=cid,
            title=str(entry["title"]),
            product=str(entry["product"]),
            fix=str(entry["fix"]),
            reference=str(entry.get("reference", f"https://nvd.nist.gov/vuln/detail/{cid}")),
        )
    return out


@cache
def findings() -> dict[str, FindingDef]:
    """Every finding definition, validated: unknown techniques or CVEs are errors at load time."""
    tech = techniques()
    cve = cves()
    out: dict[str, FindingDef] = {}
    folder = _data_dir().joinpath("findings")
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".toml"):
            continue
        with entry.open("rb") as fh:
            raw = tomllib.load(fh)
        for fid, spec in raw.items():
            where = f"findings/{entry.name}: [{fid}]"
            if not _ID.match(fid):
                raise CatalogError(f"{where}: id must look like 'family.name'")
            if fid in out:
                raise CatalogError(f"{where}: defined twice")
            severity = spec.get("severity")
            if severity not in SEVERITY_ORDER:
                raise CatalogError(f"{where}: severity must be one of {sorted(SEVERITY_ORDER)}")
            weight = float(spec.get("weight", -1))
            if not 0.0 <= weight <= 1.0:
                raise CatalogError(f"{where}: weight must be within 0..1")
            techs = tuple(spec.get("techniques", ()))
            for t in techs:
                if t not in tech:
                    raise CatalogError(f"{where}: technique {t} missing from techniques.toml")
            cv = tuple(spec.get("cves", ()))
            for c in cv:
                if c not in cve:
                    raise CatalogError(f"{where}: {c} missing from cves.toml")
            out[fid] = FindingDef(
                id=fid,
                title=str(spec["title"]),
                severity=severity,
                weight=weight,
                techniques=techs,
                cves=cv,
                description=str(spec.get("description", "")),
                group=str(spec.get("group", fid)),
            )
    return out


def finding(fid: str) -> FindingDef:
    try:
        return findings()[fid]
    except KeyError:
        raise CatalogError(f"unknown finding id {fid!r}: add it to capture/data/findings/") from None
