"""Squid native access logs: ``time elapsed client action/code size method URL ident hierarchy/peer type``."""

from __future__ import annotations

import re
from pathlib import Path

from aptcatch.hunt.readers.base import ReadResult, build_table, iso_from_epoch, url_domain

LINE_RE = re.compile(
    r"^(?P<ts>\d{9,11}(?:\.\d+)?)\s+(?P<elapsed>-?\d+)\s+(?P<client>\S+)\s+(?P<action>[A-Z_]+)/(?P<code>\d{3})"
    r"\s+(?P<size>\d+)\s+(?P<method>\S+)\s+(?P<url>\S+)\s+(?P<ident>\S+)\s+(?P<hier>[A-Z_]+)/(?P<peer>\S+)"
    r"(?:\s+(?P<ctype>\S+))?"
)


def read_squid(path: Path, mapping: dict[str, str] | None = None) -> ReadResult:
    rows: list[dict[str, str | None]] = []
    bad, errors = 0, list[str]()
    with path.open(encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            m = LINE_RE.match(line)
            if m is None:
                bad += 1
                if len(errors) < 20:
                    errors.append(f"line {n}: not a Squid access-log line")
                continue
            url = m["url"]
            if m["method"] == "CONNECT" and "://" not in url:
                domain = url.rsplit(":", 1)[0].lower()
                full = None
            else:
                full, domain = url, url_domain(url)
            peer = m["peer"] if m["peer"] != "-" else None
            rows.append(
                {
                    "@timestamp": iso_from_epoch(m["ts"]),
                    "host.name": m["client"],
                    "source.ip": m["client"],
                    "destination.ip": peer,
                    "url.full": full,
                    "url.domain": domain,
                    "destination.domain": domain,
                    "event.dataset": "squid.access",
                    "http.request.method": m["method"],
                    "http.response.status_code": m["code"],
                    "event.action": m["action"],
                    "user.name": None if m["ident"] == "-" else m["ident"],
                    "event.original": line,
                }
            )
    return ReadResult(path, "squid", build_table(rows), bad, errors)


def looks_like_squid(line: str) -> bool:
    return LINE_RE.match(line) is not None
