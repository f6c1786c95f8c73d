"""The offline snapshot: facts-only entries and indicators as one gzip'd JSON document.

Built by ``scripts/build_knowledge_snapshot.py`` from ``../shared/data`` into
``aptcatch/knowledge/data/knowledge-snapshot.json.gz`` (with the licence notices in ``NOTICE`` beside
it); a store that holds no entries is filled from it on first use, so a fresh install works offline.
"""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aptcatch.knowledge.errors import KnowledgeError
from aptcatch.knowledge.models import Claim, Entry, Indicator, IndicatorClaim
from aptcatch.knowledge.store import KnowledgeStore

FORMAT = "aptcatch.knowledge-snapshot/1"
SNAPSHOT_PATH = Path(__file__).parent / "data" / "knowledge-snapshot.json.gz"


def write_snapshot(store: KnowledgeStore, out: Path) -> dict[str, int]:
    entries = store.entries()
    indicators = store.all_indicators()
    doc: dict[str, Any] = {
        "format": FORMAT,
        "built": datetime.now(UTC).strftime("%Y-%m-%d"),
        "sources": store.sources(),
        "entries": [e.to_dict() for e in entries],
        "indicators": [
            [
                i.type,
                i.value,
                [
                    [
                        c.claim.source,
                        c.claim.reference,
                        c.claim.date,
                        c.target_kind,
                        c.target,
                        c.comment,
                        c.first_seen,
                        c.last_seen,
                    ]
                    for c in i.claims
                ],
            ]
            for i in indicators
        ],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    raw = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    out.write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
    return {"entries": len(entries), "indicators": len(indicators), "bytes": out.stat().st_size}


def read_snapshot(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(gzip.decompress(path.read_bytes()))
    except (OSError, ValueError) as exc:
        raise KnowledgeError(f"{path}: not a knowledge snapshot: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise KnowledgeError(f"{path}: not a {FORMAT} document")
    return doc


def load_snapshot(store: KnowledgeStore, path: Path = SNAPSHOT_PATH) -> dict[str, int]:
    """Replace the reference sources with the snapshot's and add its indicators."""
    doc = read_snapshot(path)
    by_source: dict[str, list[Entry]] = defaultdict(list)
    for d in doc["entries"]:
        e = Entry.from_dict(d)
        by_source[e.source].append(e)
    origins = {str(s["name"]): str(s["origin"]) for s in doc.get("sources", ())}
    store.replace_sources([(s, f"snapshot: {origins.get(s, '')}", es) for s, es in by_source.items()])
    feeds: dict[str, list[Indicator]] = defaultdict(list)
    for itype, value, claims in doc["indicators"]:
        cls = tuple(
            IndicatorClaim(Claim(s, r, d), tk, tg, cm, fs, ls) for s, r, d, tk, tg, cm, fs, ls in claims
        )
        for c in cls:
            feeds[c.claim.source].append(Indicator(itype, value, (c,)))
    for source, items in feeds.items():
        store.add_indicators(source, f"snapshot: {origins.get(source, '')}", items)
    return {"entries": len(doc["entries"]), "indicators": len(doc["indicators"])}
