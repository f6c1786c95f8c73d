"""Reading evidence: the ``aptcatch.evidence/1`` document or a STIX 2.1 bundle, checked and normalised.

Structure is checked with the JSON Schema produced from :class:`aptcatch.model.evidence.Evidence`
(``jsonschema``); values are then checked one by one and every problem is reported with the field path
and the offending value (:class:`EvidenceError`): technique ids must exist in ATT&CK (as the knowledge
store knows it), indicators must be well-formed for their type, dates ISO, countries ISO 3166 alpha-2
(names the knowledge-base vocabulary knows are mapped), sectors from the sector vocabulary.

STIX 2.1 bundles are read by :mod:`aptcatch.attribution.stix_evidence`; the format is detected here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal

from aptcatch.knowledge import vocab
from aptcatch.knowledge.indicators import IndicatorError, normalize, refang
from aptcatch.knowledge.store import KnowledgeStore
from aptcatch.model.evidence import EVIDENCE_SCHEMA, Evidence

__all__ = [
    "ISO_COUNTRIES",
    "TECHNIQUE_RE",
    "EvidenceError",
    "LoadedEvidence",
    "Problem",
    "TechniqueResolver",
    "check_evidence",
    "detect_format",
    "evidence_json_schema",
    "iso_date",
    "load_evidence",
    "normalize_country",
    "normalize_sector",
    "parse_evidence",
    "parse_evidence_document",
    "store_technique_resolver",
]

TECHNIQUE_RE = re.compile(r"T\d{4}(?:\.\d{3})?")
SOFTWARE_ID_RE = re.compile(r"S\d{4}")
CVE_RE = re.compile(r"CVE-\d{4}-\d{4,}", re.IGNORECASE)
EMAIL_RE = re.compile(r"[^@\s<>\"]{1,64}@[a-z0-9_](?:[a-z0-9_.-]{0,251}[a-z0-9])?\.[a-z]{2,63}")
LANGUAGE_RE = re.compile(r"([a-z]{2})(?:[-_][A-Za-z0-9]{2,8})*")
THEME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
HEX32_RE = re.compile(r"[0-9a-f]{32}")
MAX_ITEMS = 100_000  # evidence items per list: a bound, not a tuning knob

# ISO 3166-1 alpha-2 (officially assigned, 249 codes) plus XK (Kosovo, user-assigned but in common use).
ISO_COUNTRIES = frozenset(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV
    BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET
    FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM
    IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD
    ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE
    PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST
    SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS
    YE YT ZA ZM ZW XK""".split()  # noqa: SIM905 (a list literal of 250 strings reads worse)
)

# STIX 2.1 industry-sector-ov → aptcatch sector slug (values the sector vocabulary does not map itself).
STIX_SECTORS: dict[str, str] = {
    "communications": "telecommunications",
    "financial-services": "finance",
    "government-emergency-services": "government",
    "government-local": "government",
    "government-national": "government",
    "government-public-services": "government",
    "government-regional": "government",
    "healthcare": "healthcare",
    "hospitality-leisure": "hospitality",
    "infrastructure": "critical-infrastructure",
    "infrastructure-dams": "critical-infrastructure",
    "infrastructure-nuclear": "nuclear",
    "infrastructure-water": "water",
    "non-profit": "ngo",
    "pharmaceuticals": "pharmaceutical",
}

TechniqueResolver = Callable[[str], str | None]
"""Maps an ATT&CK technique id to its current id (revoked ids map to their replacement), None if unknown."""


@dataclass(frozen=True, slots=True)
class Problem:
    field: str
    value: object
    message: str

    def __str__(self) -> str:
        shown = repr(self.value)
        return f"{self.field}: {self.message} (got {shown if len(shown) <= 80 else shown[:77] + '...'})"


class EvidenceError(ValueError):
    """Malformed evidence: every problem found, each naming its field path and value."""

    def __init__(self, problems: list[Problem], source: str = "") -> None:
        self.problems = problems
        self.source = source
        head = f"{source}: " if source else ""
        lines = [str(p) for p in problems[:20]]
        if len(problems) > 20:
            lines.append(f"… and {len(problems) - 20} more")
        super().__init__(head + "malformed evidence\n  " + "\n  ".join(lines))


@dataclass(frozen=True, slots=True)
class LoadedEvidence:
    evidence: Evidence
    format: Literal["evidence", "stix"]
    notes: tuple[str, ...] = field(default=())


# -- knowledge-base checks ---------------------------------------------------------------------------
def store_technique_resolver(store: KnowledgeStore) -> TechniqueResolver:
    """Technique ids as the store knows them (ATT&CK external ids, revoked ids included), cached."""
    seen: dict[str, str | None] = {}

    def resolve(tid: str) -> str | None:
        if tid not in seen:
            ids = [
                f.value
                for e in store.find(tid, "technique")
                for f in e.values("external_id")
                if TECHNIQUE_RE.fullmatch(f.value)
            ]
            seen[tid] = ids[0] if ids else None
        return seen[tid]

    return resolve


# -- the evidence document ---------------------------------------------------------------------------
@cache
def evidence_json_schema() -> dict[str, Any]:
    """The JSON Schema of the evidence document (produced from the pydantic model)."""
    schema = Evidence.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://aptcatch.invalid/schema/evidence-1.json"
    return schema


def _path(parts: Any) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(document)"


def _check_schema(doc: Any) -> list[Problem]:
    # Imported here: jsonschema loads its format checkers' grammars on import (~1.7 s with
    # rfc3987-syntax installed), which every ``aptcatch`` command would pay for nothing.
    import jsonschema  # type: ignore[import-untyped]  # (a dependency of stix2-validator)

    validator = jsonschema.Draft202012Validator(evidence_json_schema())
    problems = []
    for err in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        problems.append(Problem(_path(err.absolute_path), err.instance, err.message))
    return problems


def parse_evidence_document(doc: Any, *, resolve_technique: TechniqueResolver | None = None) -> Evidence:
    """Check and normalise an ``aptcatch.evidence/1`` document (a decoded JSON value)."""
    problems: list[Problem] = []
    if isinstance(doc, dict) and isinstance(doc.get("first_seen"), str):
        try:
            doc = {**doc, "first_seen": iso_date(doc["first_seen"]).isoformat()}
        except ValueError:
            problems.append(Problem("first_seen", doc["first_seen"], "not an ISO 8601 date (YYYY-MM-DD)"))
            doc = {k: v for k, v in doc.items() if k != "first_seen"}
    problems += _check_schema(doc)
    if problems:
        raise EvidenceError(problems)
    if doc.get("schema", EVIDENCE_SCHEMA) != EVIDENCE_SCHEMA:
        raise EvidenceError([Problem("schema", doc["schema"], f"expected {EVIDENCE_SCHEMA!r}")])
    ev, more = check_evidence(Evidence.model_validate(doc), resolve_technique=resolve_technique)
    if more:
        raise EvidenceError(more)
    return ev


def parse_evidence(
    evidence: Evidence, *, resolve_technique: TechniqueResolver | None = None, strict: bool = True
) -> Evidence:
    """Check every value of ``evidence`` and return it normalised (deduplicated, canonical ids).

    With ``strict=False`` bad items are dropped instead of raising; what was dropped is not reported
    here (use :func:`check_evidence` for the list), which suits evidence produced by aptcatch itself.
    """
    ev, problems = check_evidence(evidence, resolve_technique=resolve_technique)
    if problems and strict:
        raise EvidenceError(problems)
    return ev


def check_evidence(
    evidence: Evidence, *, resolve_technique: TechniqueResolver | None = None
) -> tuple[Evidence, list[Problem]]:
    """Normalised evidence with the bad items left out, and the problems found."""
    problems: list[Problem] = []
    for name in ("techniques", "software", "indicators", "artifacts"):
        if len(getattr(evidence, name)) > MAX_ITEMS:
            problems.append(Problem(name, f"{len(getattr(evidence, name))} items", f"over {MAX_ITEMS}"))
            return evidence, problems

    techniques: list[str] = []
    for i, raw in enumerate(evidence.techniques):
        tid = raw.strip().upper()
        if not TECHNIQUE_RE.fullmatch(tid):
            problems.append(
                Problem(f"techniques[{i}]", raw, "not an ATT&CK technique id (T1234 or T1234.001)")
            )
            continue
        if resolve_technique is not None:
            canonical = resolve_technique(tid)
            if canonical is None:
                problems.append(
                    Problem(f"techniques[{i}]", raw, "no such ATT&CK technique in the knowledge base")
                )
                continue
            tid = canonical
        techniques.append(tid)

    software: list[str] = []
    for i, raw in enumerate(evidence.software):
        name = raw.strip()
        if not name:
            problems.append(Problem(f"software[{i}]", raw, "empty software name"))
        elif re.fullmatch(r"[Ss]\d+", name) and not SOFTWARE_ID_RE.fullmatch(name.upper()):
            problems.append(Problem(f"software[{i}]", raw, "not an ATT&CK software id (S1234)"))
        else:
            software.append(name.upper() if SOFTWARE_ID_RE.fullmatch(name.upper()) else name)

    indicators = []
    for i, ind in enumerate(evidence.indicators):
        try:
            indicators.append(ind.model_copy(update={"value": _indicator_value(ind.type, ind.value)}))
        except ValueError as exc:
            problems.append(Problem(f"indicators[{i}].value", ind.value, str(exc)))

    artifacts = []
    for i, art in enumerate(evidence.artifacts):
        try:
            artifacts.append(art.model_copy(update={"value": _artifact_value(art.type, art.value)}))
        except ValueError as exc:
            problems.append(Problem(f"artifacts[{i}].value", art.value, str(exc)))

    sectors: list[str] = []
    for i, raw in enumerate(evidence.target.sectors):
        slug = normalize_sector(raw)
        if slug is None:
            problems.append(Problem(f"target.sectors[{i}]", raw, "not a sector (see docs/evidence.md)"))
        else:
            sectors.append(slug)

    countries: list[str] = []
    for i, raw in enumerate(evidence.target.countries):
        code = normalize_country(raw)
        if code is None:
            problems.append(
                Problem(f"target.countries[{i}]", raw, "not an ISO 3166-1 alpha-2 code or known country name")
            )
        else:
            countries.append(code)

    language = evidence.lure.language
    if language is not None:
        m = LANGUAGE_RE.fullmatch(language.strip())
        if m is None:
            problems.append(Problem("lure.language", language, "not an ISO 639-1 language code (en, zh …)"))
            language = None
        else:
            language = m.group(1)
    themes: list[str] = []
    for i, raw in enumerate(evidence.lure.themes):
        theme = re.sub(r"[\s]+", "_", raw.strip().lower())
        if THEME_RE.fullmatch(theme):
            themes.append(theme)
        else:
            problems.append(Problem(f"lure.themes[{i}]", raw, "not a theme slug (letters, digits, _ and -)"))

    out = evidence.model_copy(
        update={
            "techniques": _unique(techniques),
            "software": _unique(software),
            "indicators": _unique(indicators),
            "artifacts": _unique(artifacts),
            "target": evidence.target.model_copy(
                update={"sectors": _unique(sectors), "countries": _unique(countries)}
            ),
            "lure": evidence.lure.model_copy(update={"language": language, "themes": _unique(themes)}),
        }
    )
    return out, problems


def _unique(items: list[Any]) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(items))


def _indicator_value(itype: str, raw: str) -> str:
    value = refang(raw)
    if not value:
        raise ValueError(f"empty {itype}")
    if itype == "email":
        value = value.lower()
        if not EMAIL_RE.fullmatch(value):
            raise ValueError("not an e-mail address")
        return value
    if itype in ("domain", "ipv4", "ipv6", "url", "md5", "sha1", "sha256", "pdb_path", "file_name"):
        try:
            value = normalize(itype, value)  # type: ignore[arg-type]
        except IndicatorError as exc:
            raise ValueError(str(exc).split(":")[0]) from None
    if itype == "pdb_path" and not value.endswith(".pdb"):
        raise ValueError("a PDB path ends in .pdb")
    return value


def _artifact_value(kind: str, raw: str) -> str:
    value = raw.strip()
    if not value:
        raise ValueError(f"empty {kind}")
    if kind == "cve":
        if not CVE_RE.fullmatch(value):
            raise ValueError("not a CVE id (CVE-2017-11882)")
        return value.upper()
    if kind == "codepage":
        if not value.isdigit() or not 0 < int(value) < 65536:
            raise ValueError("not a Windows code page number (1252, 936 …)")
        return str(int(value))
    if kind in ("imphash", "rich_hash"):
        if not HEX32_RE.fullmatch(value.lower()):
            raise ValueError(f"not an {kind} (32 hex digits)")
        return value.lower()
    if kind == "pdb_path" and not value.lower().endswith(".pdb"):
        raise ValueError("a PDB path ends in .pdb")
    return value


def normalize_sector(raw: str) -> str | None:
    """A sector slug for a vocabulary slug, a source's sector label or a STIX industry-sector-ov value."""
    text = raw.strip().lower()
    if text in vocab.SECTORS:
        return text
    return STIX_SECTORS.get(text) or vocab.normalize_sector(raw)


def normalize_country(raw: str) -> str | None:
    """ISO 3166-1 alpha-2 for a code or a country name the knowledge-base vocabulary knows, else a
    name as the system's time-zone database lists it (``iso3166.tab``: "Bangladesh", "Korea (South)")."""
    code = vocab.normalize_country(raw) or _tz_country_names().get(vocab.norm_name(raw))
    return code if code in ISO_COUNTRIES else None


@cache
def _tz_country_names() -> dict[str, str]:
    import zoneinfo

    for folder in zoneinfo.TZPATH:
        table = Path(folder) / "iso3166.tab"
        try:
            lines = table.read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        out: dict[str, str] = {}
        for line in lines:
            code, _, name = line.partition("\t")
            if not line.startswith("#") and len(code) == 2 and name:
                out[vocab.norm_name(name)] = code
                if "(" in name:  # "Korea (South)" is also looked up as "South Korea"
                    base, _, qual = name.partition(" (")
                    out[vocab.norm_name(qual.rstrip(")") + " " + base)] = code
        return out
    return {}


def iso_date(raw: str) -> date:
    text = raw.strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()


def detect_format(doc: Any) -> Literal["evidence", "stix"]:
    """``stix`` for a STIX bundle (or a bare list of STIX objects), else ``evidence``."""
    if isinstance(doc, dict) and doc.get("type") == "bundle":
        return "stix"
    if isinstance(doc, list) and doc and all(isinstance(o, dict) and "type" in o and "id" in o for o in doc):
        return "stix"
    return "evidence"


def load_evidence(
    path: Path | str, *, resolve_technique: TechniqueResolver | None = None, max_bytes: int = 64 << 20
) -> LoadedEvidence:
    """Read an evidence document or a STIX 2.1 bundle from ``path`` (format detected from content)."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > max_bytes:
            raise EvidenceError(
                [Problem("(file)", f"{size} bytes", f"over the {max_bytes}-byte limit")], str(p)
            )
        doc = json.loads(p.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise EvidenceError(
            [Problem(f"line {exc.lineno} column {exc.colno}", exc.msg, "not valid JSON")], str(p)
        ) from None
    except UnicodeDecodeError as exc:
        raise EvidenceError([Problem("(file)", exc.reason, "not UTF-8 text")], str(p)) from None
    if detect_format(doc) == "stix":
        from aptcatch.attribution.stix_evidence import evidence_from_stix

        ev, notes = evidence_from_stix(doc, resolve_technique=resolve_technique, source=str(p))
        return LoadedEvidence(ev, "stix", tuple(notes))
    try:
        ev = parse_evidence_document(doc, resolve_technique=resolve_technique)
    except EvidenceError as exc:
        raise EvidenceError(exc.problems, str(p)) from None
    if ev.source is None:
        ev = ev.model_copy(update={"source": str(p)})
    return LoadedEvidence(ev, "evidence")
