"""Export: a STIX 2.1 bundle (checked by stix2-validator in the tests) and a MISP event (via pymisp).

The STIX objects are built as plain dicts: ids are deterministic (uuid5 of the source and value) so a
re-export gives the same bundle, and every object carries ``created_by_ref`` = the identity of the
source that made the claim and the TLP:CLEAR/WHITE marking.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from typing import Any

from pymisp import MISPEvent

from aptcatch.knowledge.models import Claim, Entity, Indicator
from aptcatch.knowledge.store import KnowledgeStore

_NS = uuid.UUID("6f9e1b8e-4c1e-4a51-9a43-6b1d6f4a2c10")
TLP_WHITE_ID = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"
_TLP_WHITE = {
    "type": "marking-definition",
    "spec_version": "2.1",
    "id": TLP_WHITE_ID,
    "created": "2017-01-20T00:00:00.000Z",
    "definition_type": "tlp",
    "name": "TLP:WHITE",
    "definition": {"tlp": "white"},
}
_EPOCH = "2000-01-01T00:00:00.000Z"
_PATTERNS: dict[str, str] = {
    "domain": "domain-name:value",
    "ipv4": "ipv4-addr:value",
    "cidr": "ipv4-addr:value",
    "ipv6": "ipv6-addr:value",
    "url": "url:value",
    "md5": "file:hashes.MD5",
    "sha1": "file:hashes.'SHA-1'",
    "sha256": "file:hashes.'SHA-256'",
    "file_name": "file:name",
    "mutex": "mutex:name",
    "user_agent": "network-traffic:extensions.'http-request-ext'.request_header.'User-Agent'",
}
_MISP_TYPES: dict[str, str] = {
    "domain": "domain",
    "ipv4": "ip-dst",
    "ipv6": "ip-dst",
    "cidr": "ip-dst",
    "url": "url",
    "md5": "md5",
    "sha1": "sha1",
    "sha256": "sha256",
    "file_name": "filename",
    "pdb_path": "pdb",
    "mutex": "mutex",
    "user_agent": "user-agent",
}


def _sid(kind: str, *parts: str) -> str:
    return f"{kind}--{uuid.uuid5(_NS, '|'.join(parts))}"


_UUID = re.compile(r"^[a-z0-9-]+--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def stix_id(entity_id: str) -> str:
    """The entity id when it is a valid STIX id, else a deterministic one of the same type."""
    if _UUID.match(entity_id):
        return entity_id
    return _sid(entity_id.split("--", 1)[0] if "--" in entity_id else "intrusion-set", entity_id)


def _ts(date: str) -> str:
    return f"{date[:10]}T00:00:00.000Z" if re.fullmatch(r"\d{4}-\d{2}-\d{2}.*", date) else _EPOCH


def stix_pattern(itype: str, value: str) -> str | None:
    path = _PATTERNS.get(itype)
    if path is None:
        return None
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"[{path} = '{escaped}']"


class _Bundle:
    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {TLP_WHITE_ID: _TLP_WHITE}

    def identity(self, source: str) -> str:
        iid = _sid("identity", source)
        self.objects.setdefault(
            iid,
            {
                "type": "identity",
                "spec_version": "2.1",
                "id": iid,
                "created": _EPOCH,
                "modified": _EPOCH,
                "name": source or "unknown source",
                "identity_class": "organization",
            },
        )
        return iid

    def add(self, obj: dict[str, Any], claim: Claim) -> str:
        ts = _ts(claim.date)
        base: dict[str, Any] = {
            "spec_version": "2.1",
            "created": ts,
            "modified": ts,
            "created_by_ref": self.identity(claim.source),
            "object_marking_refs": [TLP_WHITE_ID],
        }
        refs = _ext_refs(claim)
        if refs and "external_references" not in obj:
            base["external_references"] = refs
        self.objects.setdefault(obj["id"], {**base, **obj})
        return str(obj["id"])


def _ext_refs(claim: Claim) -> list[dict[str, str]]:
    if not claim.reference:
        return []
    m = re.search(r"https?://\S+?(?=>|\s|$)", claim.reference)
    ref = {"source_name": claim.source or "source", "description": claim.reference[:300]}
    if m:
        ref["url"] = m.group(0)
    return [ref]


def _entity_obj(e: Entity) -> dict[str, Any] | None:
    kind = e.id.split("--", 1)[0]
    if kind not in ("intrusion-set", "malware", "tool", "attack-pattern", "campaign"):
        return None
    obj: dict[str, Any] = {"type": kind, "id": stix_id(e.id), "name": e.name}
    aliases = sorted({n.value for n in e.names if n.value != e.name})
    if aliases and kind in ("intrusion-set", "malware", "tool", "campaign"):
        obj["aliases"] = aliases
    if kind == "malware":
        obj["is_family"] = True
    ext = sorted({f.value for f in e.values("external_id")})
    if ext:
        obj["external_references"] = [{"source_name": "mitre-attack", "external_id": x} for x in ext]
    return obj


def export_stix(
    store: KnowledgeStore, groups: Sequence[Entity], indicators: Sequence[Indicator]
) -> dict[str, Any]:
    b = _Bundle()
    for g in groups:
        main = b.add(
            _entity_obj(g) or {"type": "intrusion-set", "id": _sid("intrusion-set", g.id), "name": g.name},
            g.names[0].claim if g.names else Claim(""),
        )
        for lk in g.links:
            target = store.entity(lk.target)
            tobj = _entity_obj(target) if target else None
            if target is None or tobj is None:
                continue
            tid = b.add(tobj, target.names[0].claim if target.names else lk.claim)
            rel = lk.rel if lk.rel in ("uses", "attributed-to") else "related-to"
            b.add(
                {
                    "type": "relationship",
                    "id": _sid("relationship", main, rel, tid, lk.claim.source),
                    "relationship_type": rel,
                    "source_ref": main,
                    "target_ref": tid,
                },
                lk.claim,
            )
        for rel, other, direction in store.linked_to(g.id):
            if direction == "in" and rel == "attributed-to" and (camp := store.entity(other)):
                cobj = _entity_obj(camp)
                if cobj:
                    cid = b.add(cobj, camp.names[0].claim)
                    b.add(
                        {
                            "type": "relationship",
                            "id": _sid("relationship", cid, rel, main),
                            "relationship_type": rel,
                            "source_ref": cid,
                            "target_ref": main,
                        },
                        camp.names[0].claim,
                    )
    by_name = {n.value: stix_id(g.id) for g in groups for n in g.names}
    for it in indicators:
        pattern = stix_pattern(it.type, it.value)
        if pattern is None:
            continue
        for c in it.claims:
            iid = b.add(
                {
                    "type": "indicator",
                    "id": _sid("indicator", c.claim.source, it.type, it.value),
                    "name": it.value,
                    "pattern": pattern,
                    "pattern_type": "stix",
                    "valid_from": _ts(c.first_seen or c.claim.date),
                },
                c.claim,
            )
            gid = by_name.get(c.target)
            if gid and gid in b.objects:
                b.add(
                    {
                        "type": "relationship",
                        "id": _sid("relationship", iid, "indicates", gid),
                        "relationship_type": "indicates",
                        "source_ref": iid,
                        "target_ref": gid,
                    },
                    c.claim,
                )
    return {"type": "bundle", "id": _sid("bundle", *sorted(b.objects)), "objects": list(b.objects.values())}


def export_misp(groups: Sequence[Entity], indicators: Sequence[Indicator], info: str) -> dict[str, Any]:
    event = MISPEvent()
    event.info = info
    event.uuid = str(uuid.uuid5(_NS, "misp|" + info))
    event.distribution = 0
    event.threat_level_id = 2
    event.analysis = 2
    for g in groups:
        event.add_tag(f'misp-galaxy:threat-actor="{g.name}"')
    for it in indicators:
        mtype = _MISP_TYPES.get(it.type)
        if mtype is None:
            continue
        comment = "; ".join(sorted({c.claim.source for c in it.claims}))[:250]
        event.add_attribute(
            mtype,
            it.value,
            comment=comment,
            to_ids=True,
            uuid=str(uuid.uuid5(_NS, f"attr|{it.type}|{it.value}")),
        )
    doc: dict[str, Any] = json.loads(event.to_json())
    return {"Event": doc}
