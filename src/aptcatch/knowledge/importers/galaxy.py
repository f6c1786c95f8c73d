"""MISP galaxy cluster files -> facts-only :class:`Entry` records.

Each supported galaxy type has a small reader that picks its fields (names, synonyms, country, victims,
sectors, ATT&CK ids, dates, ``used-by`` links); descriptions are never read, except for the link
targets (group and software uuids) that Tidal campaigns give only as Markdown links in theirs.
Sector and country values are normalised through :mod:`aptcatch.knowledge.vocab` and the raw value is
kept next to them.
Galaxies that are vocabularies (``sector``, ``country``) teach the vocabulary and produce no entries.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aptcatch.knowledge import vocab
from aptcatch.knowledge.errors import FeedError
from aptcatch.knowledge.models import Claim, EntityKind, Entry, Fact, Link, Name

GROUP_GALAXIES = (
    "threat-actor",
    "360net-threat-actor",
    "microsoft-activity-group",
    "mitre-intrusion-set",
    "groups",  # tidal-groups
)
_ATTACK_ID = re.compile(r"^[GSCT]\d{4}(\.\d{3})?$")


def galaxy_source(doc: dict[str, Any], stem: str) -> str:
    return f"MISP galaxy {stem} v{doc.get('version', '?')}"


def read_galaxy(path: Path) -> list[Entry]:
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, json.JSONDecodeError) as exc:
        pos = f"line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise FeedError(str(path), pos, f"cannot read galaxy cluster file: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("values"), list):
        raise FeedError(str(path), "", "not a MISP galaxy cluster file (no 'values' list)")
    return galaxy_entries(doc, path.stem, str(path))


def is_galaxy(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("values"), list) and "type" in doc


def galaxy_entries(doc: dict[str, Any], stem: str, where: str = "") -> list[Entry]:
    gtype = str(doc.get("type", stem))
    source = galaxy_source(doc, stem)
    values: list[dict[str, Any]] = doc["values"]
    for i, v in enumerate(values):
        if not isinstance(v, dict) or not v.get("value") or not v.get("uuid"):
            raise FeedError(where or stem, f"value {i}", "cluster without 'value' or 'uuid'")
    if gtype == "country":
        vocab.add_country_names({v["value"]: v.get("meta", {}).get("ISO", "") for v in values})
        return []
    if gtype == "sector":
        return []
    reader = _READERS.get(gtype)
    if reader is None:
        return []
    return [e for v in values if (e := reader(v, source)) is not None]


def _list(meta: dict[str, Any], key: str) -> list[str]:
    x = meta.get(key) or []
    return [str(s) for s in ([x] if isinstance(x, str) else x) if str(s).strip()]


def _claim(v: dict[str, Any], source: str) -> Claim:
    meta = v.get("meta") or {}
    refs = _list(meta, "refs")
    return Claim(source, refs[0] if refs else "", "", str(meta.get("attribution-confidence", "")))


def _countries(attr: str, raws: list[str], claim: Claim) -> list[Fact]:
    return [Fact(attr, vocab.normalize_country(r) or r, claim, r) for r in raws]


def _sectors(raws: list[str], claim: Claim) -> list[Fact]:
    out = []
    for r in raws:
        slug = vocab.normalize_sector(r)
        country = None if slug else vocab.normalize_country(r)
        if country:  # some clusters list victim countries ("Iran", "China") among the sectors
            out.append(Fact("target_country", country, claim, r))
        else:
            out.append(Fact("target_sector", slug or r, claim, r if slug != r else ""))
    return out


def _names(v: dict[str, Any], claim: Claim, split: bool) -> tuple[str, tuple[Name, ...]]:
    value = str(v["value"])
    raw = [value, *_list(v.get("meta") or {}, "synonyms")]
    names: list[str] = []
    for r in raw:
        for n in vocab.split_names(r) if split else [r]:
            if n not in names:
                names.append(n)
    if split and value not in names:
        names.append(value)
    return value, tuple(Name(n, claim) for n in names if n != value)


def _group(v: dict[str, Any], source: str, split: bool = False) -> Entry:
    meta = v.get("meta") or {}
    claim = _claim(v, source)
    name, aliases = _names(v, claim, split)
    facts: list[Fact] = [
        Fact("external_id", x, claim) for x in _attack_ids(meta, "external_id", "group_attack_id")
    ]
    facts += _countries("country", _list(meta, "country"), claim)
    facts += _countries("sponsor", _list(meta, "cfr-suspected-state-sponsor"), claim)
    for key in ("cfr-suspected-victims", "suspected-victims", "observed_countries"):
        facts += _countries("target_country", _list(meta, key), claim)
    for key in ("cfr-target-category", "targeted-sector", "target-category", "sector", "target_categories"):
        facts += _sectors(_list(meta, key), claim)
    if meta.get("since"):
        facts.append(Fact("first_seen", str(meta["since"])[:10], claim))
    revoked = tuple(
        Link("revoked-by", str(r["dest-uuid"]), claim)
        for r in v.get("related", ())
        if r.get("type") == "revoked-by" and r.get("dest-uuid")
    )
    return Entry(source, str(v["uuid"]), "group", name, aliases, tuple(facts), revoked, claim, not revoked)


def _attack_ids(meta: dict[str, Any], *keys: str) -> list[str]:
    """ATT&CK ids of a cluster; Tidal also numbers its own entries (G3001...), only MITRE-sourced count."""
    if "source" in meta and meta.get("source") != "MITRE":
        return []
    return [x for key in keys for x in _list(meta, key) if _ATTACK_ID.match(x)]


def _software(v: dict[str, Any], source: str, software_type: str = "") -> Entry:
    """Software clusters (tidal-software, malpedia, tool, rat, backdoor): names, ATT&CK id, used-by.

    ``software_type`` is what the galaxy itself says of all its members (rat, backdoor: malware); the
    ``tool`` galaxy mixes tools and malware families, so only a per-cluster ``type`` is taken there.
    """
    meta = v.get("meta") or {}
    claim = _claim(v, source)
    name, aliases = _names(v, claim, False)
    facts = [Fact("external_id", x, claim) for x in _attack_ids(meta, "software_attack_id")]
    types = [t for t in _list(meta, "type") if t in ("malware", "tool")] or (
        [software_type] if software_type else []
    )
    facts += [Fact("software_type", t, claim) for t in types]
    links = tuple(
        Link("used-by", str(r["dest-uuid"]), claim)
        for r in v.get("related", ())
        if r.get("type") == "used-by" and r.get("dest-uuid")
    )
    return Entry(source, str(v["uuid"]), "software", name, aliases, tuple(facts), links, claim)


# Tidal campaigns name their group and software only as links inside the description; the link
# targets (cluster uuids of tidal-groups / tidal-software) are facts, the prose around them is not kept.
_TIDAL_LINK = re.compile(r"app\.tidalcyber\.com/(groups|software)/([0-9a-f]{8}-[0-9a-f-]{27})")


def _campaign(v: dict[str, Any], source: str) -> Entry:
    meta = v.get("meta") or {}
    claim = _claim(v, source)
    facts = [Fact("external_id", x, claim) for x in _attack_ids(meta, "campaign_attack_id")]
    for attr in ("first_seen", "last_seen"):
        if meta.get(attr):
            facts.append(Fact(attr, str(meta[attr])[:10], claim))
    links: dict[str, Link] = {}
    for what, uuid in _TIDAL_LINK.findall(str(v.get("description", ""))):
        links.setdefault(uuid, Link("attributed-to" if what == "groups" else "uses", uuid, claim))
    return Entry(
        source, str(v["uuid"]), "campaign", str(v["value"]), (), tuple(facts), tuple(links.values()), claim
    )


def _malpedia(v: dict[str, Any], source: str) -> Entry | None:
    # Malpedia clusters are malware families; the value is the family name.
    return _software(v, source)


_READERS: dict[str, Callable[[dict[str, Any], str], Entry | None]] = {
    "threat-actor": _group,
    "microsoft-activity-group": _group,
    "mitre-intrusion-set": lambda v, s: _strip_attack_suffix(_group(v, s)),
    "groups": _group,
    "360net-threat-actor": lambda v, s: _group(v, s, split=True),
    "software": _software,
    "campaigns": _campaign,
    "malpedia": _malpedia,
    "tool": _software,
    "rat": lambda v, s: _software(v, s, "malware"),
    "backdoor": lambda v, s: _software(v, s, "malware"),
}


def _strip_attack_suffix(e: Entry) -> Entry:
    """mitre-intrusion-set values read "BITTER - G1002": the name is the part before the id."""
    m = re.fullmatch(r"(.+?) - ([GSC]\d{4})", e.name)
    if not m:
        return e
    name = m.group(1)
    aliases = tuple(a for a in e.aliases if a.value != name)
    return Entry(e.source, e.key, e.kind, name, aliases, e.facts, e.links, e.claim, e.active)


KIND_OF_GALAXY: dict[str, EntityKind] = {
    "threat-actor": "group",
    "microsoft-activity-group": "group",
    "mitre-intrusion-set": "group",
    "groups": "group",
    "360net-threat-actor": "group",
    "software": "software",
    "campaigns": "campaign",
    "malpedia": "software",
    "tool": "software",
    "rat": "software",
    "backdoor": "software",
}
