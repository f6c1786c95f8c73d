"""Scan results → evidence: what ``aptcatch scan`` observed, in the form attribution reads.

Taken from each item (only flagged items when any is flagged: a clean attachment beside a lure is
no evidence about who sent the lure):

* techniques of the chain; indicators (domains, IPs, URLs, e-mail senders, hashes, PDB paths, user
  agents) and the MD5/SHA-256 of every artifact of the delivery chain;
* artifacts with attribution value: PDB paths, imphash / Rich hash, LNK machine id, MAC, volume serial
  and owner SID, non-default code pages, document authors and last editors (generic ones such as
  "Administrator" left out), the e-mail client (X-Mailer), VBA form strings and de-obfuscated macro
  strings, third-party YARA rules with their family/actor metadata, CVEs;
* the lure: its language, themes and targeted sectors;
* ``first_seen``: the e-mail's Date when there is one, else the latest document time (created,
  modified, last saved) of the chain — a lure is made shortly before it is sent, while creation times
  of reused templates can be years older.

Values are checked like an evidence document's; malformed ones are left out rather than failing a scan.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from aptcatch.attribution.evidence_io import TechniqueResolver, check_evidence
from aptcatch.model.evidence import (
    EVIDENCE_INDICATOR_TYPES,
    Evidence,
    EvidenceArtifact,
    EvidenceIndicator,
    LureFacts,
    Target,
)
from aptcatch.model.scan import Artifact, ItemResult

__all__ = ["evidence_from_scan"]

_INDICATOR_TYPES = EVIDENCE_INDICATOR_TYPES - {"mutex"}  # scan never observes mutexes
_VICTIM_CONTEXTS = ("email_to", "email_cc", "email_recipient")
_GENERIC_AUTHORS = frozenset(
    {
        "",
        "user",
        "users",
        "admin",
        "administrator",
        "windows user",
        "microsoft office user",
        "author",
        "owner",
    }
)
_DEFAULT_CODEPAGES = frozenset({0, 1200, 1252, 65001})
_DOC_TIMES = ("created", "modified", "last_saved")
_YARA_EXTRAS = re.compile(r"\(((?:\w+=[^,()]+(?:, )?)+)\)")
_FAMILY_KEYS = ("family", "malware", "malware_family")
_ACTOR_KEYS = ("actor", "threat_actor", "apt")
MAX_HASHED_ARTIFACTS = 200
MAX_MACRO_STRINGS = 20


def evidence_from_scan(
    items: Sequence[ItemResult],
    *,
    resolve_technique: TechniqueResolver | None = None,
    only_flagged: bool = True,
) -> Evidence:
    """Evidence from scan results (all of them together: one incident)."""
    chosen = [i for i in items if i.verdict != "clean"] if only_flagged else list(items)
    if not chosen:
        chosen = list(items)
    techniques: list[str] = []
    software: list[str] = []
    indicators: list[EvidenceIndicator] = []
    artifacts: list[EvidenceArtifact] = []
    sectors: list[str] = []
    themes: list[str] = []
    mail_dates: list[date] = []
    doc_dates: list[date] = []
    for item in chosen:
        techniques += item.techniques
        for ind in item.indicators:
            if ind.type.value in _INDICATOR_TYPES and not ind.context.startswith(_VICTIM_CONTEXTS):
                where = _path_of(item, ind.artifact)
                indicators.append(
                    EvidenceIndicator.model_validate(
                        {"type": ind.type.value, "value": ind.value, "seen_in": where}
                    )
                )
        for n, (path, art) in enumerate(_walk(item.artifact, item.artifact.name)):
            if n < MAX_HASHED_ARTIFACTS:
                indicators.append(EvidenceIndicator(type="sha256", value=art.sha256, seen_in=path))
                indicators.append(EvidenceIndicator(type="md5", value=art.md5, seen_in=path))
            artifacts += _metadata_artifacts(art.metadata, path)
            if isinstance(d := art.metadata.get("date"), str) and art.type in ("eml", "msg"):
                mail_dates += _dates([d])
            doc_dates += _dates([art.metadata.get(k) for k in _DOC_TIMES])
        for cve in item.cves:
            artifacts.append(EvidenceArtifact(type="cve", value=cve.id, seen_in=item.path))
        for f in item.findings:
            if f.source.startswith("yara:") and f.source != "yara:aptcatch":
                fam, found = _yara(f.detail, item, f.artifact)
                software += fam
                artifacts += found
        sectors += item.lure.sectors
        themes += [t.theme for t in item.lure.themes]
    language = next(
        (i.lure.language for i in sorted(chosen, key=lambda i: -i.score) if i.lure.language), None
    )
    first_seen = min(mail_dates) if mail_dates else (max(doc_dates) if doc_dates else None)
    source = "scan: " + ", ".join(i.path for i in chosen[:5]) + (" …" if len(chosen) > 5 else "")
    raw = Evidence(
        techniques=tuple(techniques),
        software=tuple(software),
        indicators=tuple(indicators),
        artifacts=tuple(artifacts),
        target=Target(sectors=tuple(sectors)),
        lure=LureFacts(language=language, themes=tuple(themes)),
        first_seen=first_seen,
        source=source,
    )
    evidence, _ = check_evidence(raw, resolve_technique=resolve_technique)
    return evidence


def _walk(art: Artifact, path: str) -> Iterator[tuple[str, Artifact]]:
    yield path, art
    for child in art.children:
        yield from _walk(child, f"{path} > {child.name}")


def _path_of(item: ItemResult, artifact_id: str) -> str:
    for path, art in _walk(item.artifact, item.artifact.name):
        if art.id == artifact_id:
            return path
    return item.path


def _strings(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value if v is not None and v != ""]
    return [str(value)] if value is not None and value != "" else []


def _metadata_artifacts(meta: dict[str, Any], where: str) -> list[EvidenceArtifact]:
    out: list[EvidenceArtifact] = []

    def add(kind: str, value: str) -> None:
        out.append(EvidenceArtifact(type=kind, value=value[:500], seen_in=where))  # type: ignore[arg-type]

    for v in _strings(meta.get("pe_pdb_path")):
        add("pdb_path", v)
    for key, kind in (
        ("pe_imphash", "imphash"),
        ("pe_rich_hash", "rich_hash"),
        ("lnk_machine_id", "lnk_machine_id"),
    ):
        for v in _strings(meta.get(key)):
            add(kind, v)
    for key in ("lnk_mac_address", "lnk_volume_serial", "lnk_owner_sid", "x_mailer"):
        for v in _strings(meta.get(key)):
            add("other", f"{key}: {v}")
    cp = meta.get("codepage")
    if isinstance(cp, int) and cp not in _DEFAULT_CODEPAGES:
        add("codepage", str(cp))
    for key in ("author", "last_saved_by"):
        for v in _strings(meta.get(key)):
            if v.strip().casefold() not in _GENERIC_AUTHORS:
                add("author", v.strip())
    macro = _strings(meta.get("vba_form_strings")) + _strings(meta.get("vba_decoded_strings"))
    for v in macro[:MAX_MACRO_STRINGS]:
        add("macro_key", v)
    return out


def _yara(detail: str, item: ItemResult, artifact_id: str) -> tuple[list[str], list[EvidenceArtifact]]:
    """(families, artifacts) from a third-party YARA finding's detail ``ns.rule (family=X, actor=Y): …``."""
    where = _path_of(item, artifact_id)
    label = detail.split(" ", 1)[0].rstrip(":")
    meta: dict[str, str] = {}
    if m := _YARA_EXTRAS.search(detail):
        for part in m.group(1).split(", "):
            k, _, v = part.partition("=")
            meta[k.strip()] = v.strip()
    families = [meta[k] for k in _FAMILY_KEYS if meta.get(k)]
    arts = [EvidenceArtifact(type="yara_rule", value=label, seen_in=where)]
    arts += [
        EvidenceArtifact(type="other", value=f"yara_actor: {meta[k]}", seen_in=where)
        for k in _ACTOR_KEYS
        if meta.get(k)
    ]
    return families, arts


def _dates(values: Sequence[Any]) -> list[date]:
    """Plausible dates from metadata times: ISO, PDF ``D:YYYYMMDD…`` and RFC 2822 (e-mail)."""
    out: list[date] = []
    for v in values:
        if not isinstance(v, str) or not v.strip():
            continue
        text = v.strip()
        d: date | None = None
        if m := re.match(r"D:(\d{4})(\d{2})(\d{2})", text):
            try:
                d = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            except ValueError:
                d = None
        elif re.match(r"\d{4}-\d{2}-\d{2}", text):
            try:
                d = date.fromisoformat(text[:10])
            except ValueError:
                d = None
        else:
            try:
                d = parsedate_to_datetime(text).astimezone(UTC).date()
            except (TypeError, ValueError, IndexError):
                d = None
        if d is not None and date(1995, 1, 1) <= d <= datetime.now(UTC).date():
            out.append(d)
    return out
