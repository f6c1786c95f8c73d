"""STIX 2.x indicator bundles -> :class:`Indicator` records with their group/campaign/malware links.

Patterns are read by a small hand-written matcher for the simple comparisons feeds use
(``[domain-name:value = '...']``, ``ipv4-addr``, ``ipv6-addr``, ``url``, ``file:hashes.'SHA-256'``,
``file:name``, ``mutex:name``, joined by ``OR``/``AND``); python-stix2's pattern visitor needs the
antlr runtime and gives a tree we would walk the same way. Comparisons we cannot read are skipped and
counted, never guessed. ``indicates`` relationships (and ``x_..._report`` object refs) give the links.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from aptcatch.knowledge import indicators as ind
from aptcatch.knowledge.errors import FeedError
from aptcatch.knowledge.models import Claim, Indicator, IndicatorClaim, IndicatorType

_CMP = re.compile(
    r"(?P<path>[a-z0-9-]+:[a-z0-9_.'-]+(?:\.'[^']+')?)\s*(?P<op>=|LIKE|MATCHES)\s*'(?P<val>(?:[^'\\]|\\.)*)'",
    re.IGNORECASE,
)
_PATH_TYPES: dict[str, IndicatorType] = {
    "domain-name:value": "domain",
    "ipv4-addr:value": "ipv4",
    "ipv6-addr:value": "ipv6",
    "url:value": "url",
    "file:name": "file_name",
    "mutex:name": "mutex",
    "file:hashes.md5": "md5",
    "file:hashes.'md5'": "md5",
    "file:hashes.'sha-1'": "sha1",
    "file:hashes.sha1": "sha1",
    "file:hashes.'sha1'": "sha1",
    "file:hashes.'sha-256'": "sha256",
    "file:hashes.sha256": "sha256",
    "file:hashes.'sha256'": "sha256",
    "network-traffic:extensions.'http-request-ext'.request_header.'user-agent'": "user_agent",
}
_TARGET_KINDS = {
    "intrusion-set": "group",
    "threat-actor": "group",
    "campaign": "campaign",
    "malware": "software",
}


def parse_pattern(pattern: str) -> list[tuple[IndicatorType, str]]:
    """The (type, value) pairs of the equality comparisons of a STIX pattern."""
    out: list[tuple[IndicatorType, str]] = []
    for m in _CMP.finditer(pattern):
        if m.group("op") != "=":
            continue
        itype = _PATH_TYPES.get(m.group("path").lower())
        if itype is None:
            continue
        raw = m.group("val").replace("\\'", "'").replace("\\\\", "\\")
        if itype == "ipv4" and "/" in raw:
            itype = "cidr"
        try:
            out.append((itype, ind.normalize(itype, raw)))
        except ind.IndicatorError:
            continue
    return out


def is_stix_bundle(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("type") == "bundle" and isinstance(doc.get("objects"), list)


def read_stix_feed(path: Path, doc: dict[str, Any], source: str) -> list[Indicator]:
    objects = doc["objects"]
    by_id: dict[str, dict[str, Any]] = {}
    for i, o in enumerate(objects):
        if not isinstance(o, dict) or not isinstance(o.get("type"), str) or not isinstance(o.get("id"), str):
            raise FeedError(str(path), f"object {i}", "STIX object without string 'type' and 'id'")
        by_id[o["id"]] = o
    targets: dict[str, list[tuple[str, str]]] = {}
    for o in objects:
        if o["type"] != "relationship" or o.get("relationship_type") != "indicates":
            continue
        dst = by_id.get(str(o.get("target_ref", "")))
        if dst is not None and dst["type"] in _TARGET_KINDS and dst.get("name"):
            targets.setdefault(str(o.get("source_ref")), []).append(
                (_TARGET_KINDS[dst["type"]], str(dst["name"]))
            )
    report_names = [str(o.get("name", "")) for o in objects if o["type"] == "report"]
    out: list[Indicator] = []
    for i, o in enumerate(objects):
        if o["type"] != "indicator":
            continue
        pattern = o.get("pattern")
        if not isinstance(pattern, str) or not pattern.strip().startswith("["):
            raise FeedError(str(path), f"object {i}", f"indicator {o['id']} has no STIX pattern")
        if pattern.count("[") != pattern.count("]") or pattern.count("'") % 2:
            raise FeedError(str(path), f"object {i}", f"unbalanced STIX pattern: {pattern[:80]!r}")
        pairs = parse_pattern(pattern)
        first = str(o.get("valid_from", ""))[:10]
        last = str(o.get("valid_until", ""))[:10]
        claim = Claim(
            source,
            report_names[0] if report_names else o["id"],
            str(o.get("modified", ""))[:10],
            str(o.get("confidence", "")),
        )
        links = targets.get(o["id"]) or [("", "")]
        claims = tuple(IndicatorClaim(claim, k, t, "", first, last) for k, t in links)
        out.extend(Indicator(t, v, claims) for t, v in pairs)
    return out


def load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except json.JSONDecodeError as exc:
        raise FeedError(
            str(path), f"line {exc.lineno} column {exc.colno}", f"invalid JSON: {exc.msg}"
        ) from exc
    except UnicodeDecodeError as exc:
        raise FeedError(str(path), f"byte {exc.start}", "not UTF-8 text") from exc
