"""STIX 2.1 bundle → evidence (the mapping is listed in docs/evidence.md).

Patterns are parsed with ``stix2patterns``; the mapping of STIX objects to evidence is hand-written
because no library turns a bundle into attribution evidence. Values are then checked exactly like an
evidence document's (:func:`aptcatch.attribution.evidence_io.parse_evidence_document`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from aptcatch.attribution.evidence_io import (
    CVE_RE,
    EvidenceError,
    Problem,
    TechniqueResolver,
    iso_date,
    normalize_sector,
    parse_evidence_document,
)
from aptcatch.model.evidence import Evidence

__all__ = ["evidence_from_stix"]

_PATTERN_PATHS: dict[tuple[str, str], str] = {
    ("domain-name", "value"): "domain",
    ("ipv4-addr", "value"): "ipv4",
    ("ipv6-addr", "value"): "ipv6",
    ("url", "value"): "url",
    ("email-addr", "value"): "email",
    ("file", "name"): "file_name",
    ("mutex", "name"): "mutex",
}
_DATED = frozenset({"report", "observed-data", "campaign"})  # objects whose dates give first_seen
_HASHES = {"md5": "md5", "sha-1": "sha1", "sha1": "sha1", "sha-256": "sha256", "sha256": "sha256"}


def _stix_literal(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("\\'", "'").replace("\\\\", "\\")
    return text


def _pattern_indicators(pattern: str) -> list[tuple[str, str]]:
    from stix2patterns.v21.pattern import Pattern  # type: ignore[import-untyped]

    out: list[tuple[str, str]] = []
    comparisons: Mapping[str, list[tuple[list[Any], str, str]]] = Pattern(pattern).inspect().comparisons
    for obj_type, comps in comparisons.items():
        for path, op, value in comps:
            if op != "=":
                continue
            parts = [str(p) for p in path]
            literal = _stix_literal(value)
            if obj_type == "file" and len(parts) == 2 and parts[0] == "hashes":
                if (htype := _HASHES.get(parts[1].strip("'").lower())) is not None:
                    out.append((htype, literal))
            elif (itype := _PATTERN_PATHS.get((obj_type, ".".join(parts)))) is not None:
                out.append((itype, literal))
    return out


def _sco_indicators(obj: Mapping[str, Any]) -> list[tuple[str, str]]:
    kind = obj.get("type", "")
    out: list[tuple[str, str]] = []
    for (otype, prop), itype in _PATTERN_PATHS.items():
        if kind == otype and isinstance(obj.get(prop), str):
            out.append((itype, obj[prop]))
    if kind == "file":
        for name, value in (obj.get("hashes") or {}).items():
            if (htype := _HASHES.get(str(name).lower())) is not None and isinstance(value, str):
                out.append((htype, value))
    return out


def evidence_from_stix(
    bundle: Any, *, resolve_technique: TechniqueResolver | None = None, source: str = "stix bundle"
) -> tuple[Evidence, list[str]]:
    """Evidence from a STIX 2.1 bundle, and notes on what was left out (and why).

    Techniques, indicators, CVEs and countries are checked like the evidence document's: an ATT&CK
    technique id that the knowledge base does not know is an error; a value that is no valid indicator
    is an error; sectors outside the vocabulary and unsupported patterns are notes.
    """
    objects = bundle.get("objects", []) if isinstance(bundle, dict) else bundle
    if not isinstance(objects, list):
        raise EvidenceError([Problem("objects", type(objects).__name__, "a STIX bundle's objects is a list")])
    by_id = {o.get("id"): o for o in objects if isinstance(o, dict)}
    notes: list[str] = []
    problems: list[Problem] = []
    techniques: list[str] = []
    software: list[str] = []
    indicators: list[dict[str, str]] = []
    artifacts: list[dict[str, str]] = []
    dates: list[date] = []
    targeted = {
        o.get("target_ref")
        for o in objects
        if isinstance(o, dict) and o.get("type") == "relationship" and o.get("relationship_type") == "targets"
    }
    sectors: list[str] = []
    countries: list[str] = []
    for i, obj in enumerate(objects):
        if not isinstance(obj, dict):
            problems.append(Problem(f"objects[{i}]", obj, "a STIX object is a JSON object"))
            continue
        kind, oid = obj.get("type"), obj.get("id", f"objects[{i}]")
        if kind == "attack-pattern":
            for ref in obj.get("external_references") or []:
                if ref.get("source_name") == "mitre-attack" and ref.get("external_id"):
                    techniques.append(str(ref["external_id"]))
        elif kind in ("malware", "tool") and obj.get("name"):
            ids = [
                r["external_id"]
                for r in obj.get("external_references") or []
                if r.get("source_name") == "mitre-attack" and r.get("external_id")
            ]
            software.append(str(ids[0] if ids else obj["name"]))
        elif kind == "vulnerability" and CVE_RE.fullmatch(str(obj.get("name", ""))):
            artifacts.append({"type": "cve", "value": obj["name"], "seen_in": oid})
        elif kind == "indicator":
            if obj.get("pattern_type", "stix") != "stix":
                notes.append(f"{oid}: pattern type {obj.get('pattern_type')!r} is not read")
                continue
            try:
                found = _pattern_indicators(str(obj.get("pattern", "")))
            except Exception as exc:  # stix2patterns raises ParseException and antlr errors
                problems.append(Problem(f"{oid}.pattern", obj.get("pattern"), f"not a STIX pattern ({exc})"))
                continue
            if not found:
                notes.append(
                    f"{oid}: no domain, IP, URL, e-mail, file name or hash comparison in the pattern"
                )
            indicators += [{"type": t, "value": v, "seen_in": oid} for t, v in found]
        elif kind in ("domain-name", "ipv4-addr", "ipv6-addr", "url", "email-addr", "file", "mutex"):
            indicators += [{"type": t, "value": v, "seen_in": oid} for t, v in _sco_indicators(obj)]
        elif kind == "identity" and oid in targeted:
            for raw in obj.get("sectors") or []:
                slug = normalize_sector(str(raw))
                if slug is None:
                    notes.append(f"{oid}: sector {raw!r} is not in the sector vocabulary")
                else:
                    sectors.append(slug)
        elif kind == "location" and oid in targeted and obj.get("country"):
            countries.append(str(obj["country"]))
        for key in ("published", "first_observed", "first_seen"):
            if kind in _DATED and isinstance(obj.get(key), str):
                try:
                    dates.append(iso_date(obj[key]))
                except ValueError:
                    problems.append(Problem(f"{oid}.{key}", obj[key], "not an ISO 8601 timestamp"))
    for oid in targeted:
        if oid not in by_id:
            notes.append(f"targets {oid}: object not in the bundle")
    if problems:
        raise EvidenceError(problems, source)
    doc: dict[str, Any] = {
        "techniques": techniques,
        "software": software,
        "indicators": indicators,
        "artifacts": artifacts,
        "target": {"sectors": sectors, "countries": countries},
        "first_seen": min(dates).isoformat() if dates else None,
        "source": source,
    }
    try:
        return parse_evidence_document(doc, resolve_technique=resolve_technique), notes
    except EvidenceError as exc:
        raise EvidenceError(exc.problems, source) from None
