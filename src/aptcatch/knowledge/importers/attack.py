"""ATT&CK Enterprise (STIX 2.1 bundle) -> facts-only :class:`Entry` records.

Read with the standard ``json`` module rather than ``stix2.parse``: the bundle has 25,000 objects and
only a handful of fields are needed; building stix2 objects for all of them costs ten times the time.
Descriptions are never read. Every claim is dated with the object's ``created`` date (when ATT&CK
first recorded it); relationships keep all their citations. Revoked and deprecated objects become
inactive entries; a revoked intrusion set keeps its names and a ``revoked-by`` link so its aliases
still resolve to the successor.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aptcatch.knowledge.errors import FeedError
from aptcatch.knowledge.models import Claim, EntityKind, Entry, Fact, Link, Name

_KINDS: dict[str, EntityKind] = {
    "intrusion-set": "group",
    "campaign": "campaign",
    "malware": "software",
    "tool": "software",
    "attack-pattern": "technique",
}


def attack_source_name(objects: list[dict[str, Any]]) -> str:
    """ "MITRE ATT&CK Enterprise v18.1" from the collection object (or without version when absent)."""
    for o in objects:
        if o.get("type") == "x-mitre-collection":
            return f"MITRE ATT&CK Enterprise v{o.get('x_mitre_version', '?')}"
    return "MITRE ATT&CK Enterprise"


def is_attack_bundle(doc: Any) -> bool:
    return isinstance(doc, dict) and any(
        isinstance(o, dict) and o.get("type") == "x-mitre-collection" for o in doc.get("objects", ())[:5000]
    )


def _ext_id(o: dict[str, Any]) -> str:
    for ref in o.get("external_references", ()):
        if ref.get("source_name") in ("mitre-attack", "mitre-mobile-attack", "mitre-ics-attack"):
            return str(ref.get("external_id", ""))
    return ""


def _citations(o: dict[str, Any]) -> str:
    """Every citation of a relationship: ``source_name <url>`` joined by `` | `` (ATT&CK self-links left out).

    All of them are kept: attribution's ``--exclude-source`` and the benchmark's hold-out drop a
    relationship only when *every* citation is excluded, so a cut list would change the answer.
    """
    out = []
    for ref in o.get("external_references", ()):
        name = str(ref.get("source_name", ""))
        if not name or name.startswith("mitre-"):
            continue
        out.append(f"{name} <{ref['url']}>" if ref.get("url") else name)
    return " | ".join(out)


def _created(o: dict[str, Any]) -> str:
    """The date ATT&CK first recorded the object (``created``): what ``--as-of`` compares against."""
    return str(o.get("created") or o.get("modified") or "")[:10]


def _alias_refs(o: dict[str, Any]) -> dict[str, str]:
    """ATT&CK cites each alias with an external reference named after it."""
    return {
        ref["source_name"]: str(ref.get("description", ""))
        for ref in o.get("external_references", ())
        if "source_name" in ref and "url" not in ref
    }


def read_attack(path: Path) -> list[Entry]:
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, json.JSONDecodeError) as exc:
        pos = f"line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise FeedError(str(path), pos, f"cannot read ATT&CK bundle: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("objects"), list):
        raise FeedError(str(path), "", "not a STIX bundle (no 'objects' list)")
    return attack_entries(doc["objects"], str(path))


def attack_entries(objects: list[dict[str, Any]], where: str = "ATT&CK") -> list[Entry]:
    source = attack_source_name(objects)
    by_id: dict[str, dict[str, Any]] = {}
    for i, o in enumerate(objects):
        if not isinstance(o, dict) or "type" not in o or "id" not in o:
            raise FeedError(where, f"object {i}", "STIX object without type or id")
        by_id[o["id"]] = o
    links: dict[str, list[Link]] = {}
    for o in objects:
        if o["type"] != "relationship" or o.get("revoked") or o.get("x_mitre_deprecated"):
            continue
        rel = o.get("relationship_type", "")
        src, dst = o.get("source_ref", ""), o.get("target_ref", "")
        if rel not in ("uses", "attributed-to", "revoked-by") or src not in by_id or dst not in by_id:
            continue
        if by_id[src]["type"] not in _KINDS or by_id[dst]["type"] not in _KINDS:
            continue
        claim = Claim(source, _citations(o), _created(o))
        links.setdefault(src, []).append(Link(rel, dst, claim, str(by_id[dst].get("name", ""))))
    entries = []
    for o in objects:
        kind = _KINDS.get(o["type"])
        if kind is None:
            continue
        ext = _ext_id(o)
        claim = Claim(source, o.get("external_references", [{}])[0].get("url", ""), _created(o))
        facts = [Fact("external_id", ext, claim)] if ext else []
        if o["type"] in ("malware", "tool"):
            facts.append(Fact("software_type", o["type"], claim))
        for attr in ("first_seen", "last_seen"):
            if o.get(attr):
                cite = str(o.get(f"x_mitre_{attr}_citation", "")).replace("(Citation: ", "").rstrip(")")
                facts.append(Fact(attr, str(o[attr])[:10], Claim(source, cite, claim.date)))
        for phase in o.get("kill_chain_phases", ()):
            facts.append(Fact("tactic", str(phase.get("phase_name", "")), claim))
        if o.get("x_mitre_is_subtechnique"):
            facts.append(Fact("subtechnique", "true", claim))
        cites = _alias_refs(o)
        alias_list = o.get("aliases") or o.get("x_mitre_aliases") or ()
        aliases = tuple(
            Name(a, Claim(source, cites.get(a, "").replace("(Citation: ", "").rstrip(")"), claim.date))
            for a in alias_list
            if a != o.get("name")
        )
        entry_links = list(links.get(o["id"], ()))
        revoked = bool(o.get("revoked"))
        entries.append(
            Entry(
                source=source,
                key=o["id"],
                kind=kind,
                name=str(o.get("name", "")),
                aliases=aliases,
                facts=tuple(facts),
                links=tuple(entry_links),
                claim=claim,
                active=not revoked and not o.get("x_mitre_deprecated", False),
            )
        )
    return entries
