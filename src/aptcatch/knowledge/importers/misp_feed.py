"""MISP event JSON -> :class:`Indicator` records, read through pymisp's ``MISPEvent``.

Attributes (and attributes of MISP objects) are mapped to indicator types; galaxy tags
(``misp-galaxy:threat-actor="APT32"``, ``mitre-intrusion-set``, ``mitre-malware``, ``malpedia``...)
become the group / malware each indicator of the event is linked to.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pymisp import MISPEvent

from aptcatch.knowledge import indicators as ind
from aptcatch.knowledge.errors import FeedError
from aptcatch.knowledge.models import Claim, Indicator, IndicatorClaim, IndicatorType

_SIMPLE: dict[str, IndicatorType] = {
    "domain": "domain",
    "hostname": "domain",
    "url": "url",
    "md5": "md5",
    "sha1": "sha1",
    "sha256": "sha256",
    "filename": "file_name",
    "pdb": "pdb_path",
    "mutex": "mutex",
    "user-agent": "user_agent",
    "ip-dst": "ipv4",
    "ip-src": "ipv4",
}
_GALAXY_TAG = re.compile(r'^misp-galaxy:([\w-]+)="(.+)"$')
_GROUP_GALAXIES = {"threat-actor", "mitre-intrusion-set", "microsoft-activity-group", "360net-threat-actor"}
_SOFTWARE_GALAXIES = {"mitre-malware", "mitre-tool", "malpedia", "tool", "rat", "backdoor"}


def is_misp_event(doc: Any) -> bool:
    return isinstance(doc, dict) and ("Event" in doc or _unwrap_response(doc) is not None)


def _unwrap_response(doc: dict[str, Any]) -> dict[str, Any] | None:
    resp = doc.get("response")
    if isinstance(resp, list) and resp and isinstance(resp[0], dict) and "Event" in resp[0]:
        return resp[0]
    return None


def attribute_values(atype: str, value: str) -> list[tuple[IndicatorType, str]]:
    """Indicator (type, value) pairs of one MISP attribute; composite types give several."""
    if "|" in atype:
        left, right = atype.split("|", 1)
        lv, _, rv = value.partition("|")
        return attribute_values(left, lv) + ([] if right == "port" else attribute_values(right, rv))
    itype = _SIMPLE.get(atype)
    if itype is None:
        return []
    if itype == "ipv4":
        detected = ind.detect_type(value)
        if detected not in ("ipv4", "ipv6", "cidr"):
            return []
        itype = detected
    try:
        return [(itype, ind.normalize(itype, value))]
    except ind.IndicatorError:
        return []


def read_misp_event(path: Path, doc: dict[str, Any], source: str) -> list[Indicator]:
    wrapped = _unwrap_response(doc) or doc
    event = MISPEvent()
    try:
        event.from_dict(**wrapped)
    except Exception as exc:  # pymisp raises several types for malformed events
        raise FeedError(str(path), "Event", f"not a loadable MISP event: {exc}") from exc
    targets: list[tuple[str, str]] = []
    for tag in event.tags:
        m = _GALAXY_TAG.match(str(tag.name))
        if m and m.group(1) in _GROUP_GALAXIES:
            targets.append(("group", m.group(2)))
        elif m and m.group(1) in _SOFTWARE_GALAXIES:
            targets.append(("software", m.group(2).split(" - ")[0]))
    reference = f"MISP event {event.uuid}: {event.info}" if event.info else f"MISP event {event.uuid}"
    date = str(event.date)[:10] if event.date else ""
    attributes = list(event.attributes)
    for obj in event.objects:
        attributes.extend(obj.attributes)
    out: list[Indicator] = []
    for i, attr in enumerate(attributes):
        atype = getattr(attr, "type", None)
        value = getattr(attr, "value", None)
        if not isinstance(atype, str) or value is None:
            raise FeedError(str(path), f"attribute {i}", "attribute without type or value")
        if not isinstance(value, str):
            continue  # pymisp turns datetime/counter attributes into objects: never indicators
        pairs = attribute_values(atype, value)
        if not pairs:
            continue
        first = str(getattr(attr, "first_seen", "") or "")[:10] or date
        last = str(getattr(attr, "last_seen", "") or "")[:10]
        claim = Claim(source, reference, date)
        comment = str(getattr(attr, "comment", "") or "")[:200]
        claims = tuple(IndicatorClaim(claim, k, t, comment, first, last) for k, t in targets or [("", "")])
        out.extend(Indicator(t, v, claims) for t, v in pairs)
    return out
