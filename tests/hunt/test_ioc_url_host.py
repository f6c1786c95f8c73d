"""The sweep's URL key taken from the reader (``ReadResult.url_host``) gives the matches of cutting it again.

Squid and Zeek http fill ``url.domain`` with the host of ``url.full`` exactly as the sweep keys a URL; the
sweep then reads that column instead of cutting every URL again. Checked on awkward URLs (credentials,
ports, IPv6, upper case, fragments, relative paths, CONNECT with and without a scheme).
"""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest

import aptcatch.hunt.ioc as ioc
from aptcatch.hunt.ioc import IndicatorSet, parse_ioc_lines, sweep
from aptcatch.hunt.readers import read_log

HOSTS = ["evil.example", "EVIL.example:8080", "u:p@evil.example", "[2001:db8::1]", "x.evil.example"]
HOSTS += ["ok.test"]
IOCS = [
    "http://evil.example/gate.php",
    "http://evil.example:8080/a?b#c",
    "https://x.evil.example/",
    "http://[2001:db8::1]/z",
    "http://ok.test/",
]


def _urls(rng: random.Random) -> list[str]:
    out = []
    for _ in range(3000):
        host = rng.choice(HOSTS)
        path = rng.choice(["/gate.php", "", "/a?b#c", "/z", "/", "?q", "#f"])
        scheme = rng.choice(["http", "HTTP", "https", "ftp"])
        out.append(rng.choice([f"{scheme}://{host}{path}", f"/{path}", f"{host}:443", f"{scheme}://{host}"]))
    return out


@pytest.mark.parametrize("kind", ["squid", "zeek-http"])
def test_url_host_from_the_reader_matches_cutting_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    rng = random.Random(3)
    urls = _urls(rng)
    if kind == "squid":
        lines = [
            f"1700000000.{i % 1000:03d} 5 10.0.0.1 TCP_MISS/200 10"
            f" {'CONNECT' if rng.random() < 0.3 else 'GET'} {u} - HIER_DIRECT/-"
            for i, u in enumerate(urls)
        ]
        path = tmp_path / "access.log"
    else:
        lines = []
        for i, u in enumerate(urls):
            host, _, rest = u.partition("://")[2].partition("/") if "://" in u else (u, "", "")
            rec = {"ts": i, "uid": f"C{i}", "id.orig_h": "10.0.0.1", "id.resp_p": 80, "host": host}
            rec["uri"] = u if rng.random() < 0.5 else "/" + rest
            lines.append(json.dumps(rec))
        path = tmp_path / "http.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = read_log(path)
    assert result.url_host == "url.domain" and result.rows == len(lines)
    indicators = IndicatorSet()
    parse_ioc_lines(IOCS, "t", indicators)
    monkeypatch.setattr(ioc, "SMALL_FILE", 1)  # swept as a table of its own, where url_host is used
    taken = sweep([result], indicators)
    cut = sweep([dataclasses.replace(result, url_host=None)], indicators)
    assert [vars(m) for m in taken] == [vars(m) for m in cut]
    assert sum(m.rule_id == "ioc.url" for m in taken) > 100
