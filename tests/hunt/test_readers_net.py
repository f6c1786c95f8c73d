"""DuckDB-native network-log readers: every format, bad lines by number, originals, raw segments, and
the normalised rows against a tiny Python reference over generated lines."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aptcatch.hunt.readers import NORMALISED, read_log
from aptcatch.hunt.readers.base import ROW
from aptcatch.hunt.readers.duck import file_lines


def _write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


def test_squid_native_bad_lines_originals(tmp_path: Path) -> None:
    lines = [
        "1286536309.450    120 192.168.0.2 TCP_MISS/200 1024 GET http://user:pw@Evil.Example:8080/a?b - "
        "HIER_DIRECT/198.51.100.7 text/html",
        "",
        "   ",
        "not a squid line at all",
        "1286536310.450 10 192.168.0.3 TCP_TUNNEL/200 50 CONNECT Tunnel.Example:443 bob HIER_NONE/- -",
        "1286536311.000 5 10.0.0.1 TCP_MISS/200 10 GET http://[2001:db8::1]:80/x - HIER_DIRECT/203.0.113.1",
    ]
    r = read_log(_write(tmp_path, "access.log", "\r\n".join(lines) + "\r\n"))
    assert (r.format, r.rows, r.bad_lines) == ("squid", 3, 1)
    assert r.errors == ["line 4: not a Squid access-log line"]
    rows = r.table.to_pylist()
    assert list(r.table.column_names[: len(NORMALISED)]) == list(NORMALISED)
    assert rows[0]["url.domain"] == "evil.example" == rows[0]["destination.domain"]
    assert rows[0]["@timestamp"] == "2010-10-08T11:11:49.450Z" and rows[0]["host.name"] == "192.168.0.2"
    assert rows[1]["url.full"] is None and rows[1]["destination.domain"] == "tunnel.example"
    assert rows[1]["user.name"] == "bob" and rows[1]["destination.ip"] is None
    assert rows[2]["url.domain"] == "2001:db8::1"
    assert r.original([2, 0]) == [lines[5], lines[0]]
    assert r.originals is not None and r.originals[1] == lines[4]


def test_squid_common_and_combined(tmp_path: Path) -> None:
    text = (
        '192.168.0.9 - alice [10/Oct/2010:13:55:36 +0200] "GET http://Gate.Example/x HTTP/1.1" 200 512 '
        '"-" "Mozilla/5.0 (X)" TCP_MISS:HIER_DIRECT\n'
        '192.168.0.9 - - [10/Oct/2010:13:55:37 +0200] "CONNECT c2.example:443 HTTP/1.1" 200 0 '
        "TCP_TUNNEL:HIER_DIRECT\n"
        "garbage\n"
    )
    r = read_log(_write(tmp_path, "access.log", text))
    assert (r.format, r.rows, r.bad_lines, r.errors) == (
        "squid",
        2,
        1,
        ["line 3: not a Squid common/combined access-log line"],
    )
    a, b = r.table.to_pylist()
    assert a["@timestamp"] == "2010-10-10T11:55:36.000Z" and a["user.name"] == "alice"
    assert a["url.domain"] == "gate.example" and a["user_agent.original"] == "Mozilla/5.0 (X)"
    assert b["destination.domain"] == "c2.example" and b["event.action"] == "TCP_TUNNEL"


def test_zeek_json_types_bad_lines_and_segment(tmp_path: Path) -> None:
    recs = [
        {
            "ts": 1588205198.5,
            "uid": "C1",
            "id.orig_h": "10.0.1.4",
            "id.orig_p": 5,
            "id.resp_h": "10.0.0.4",
            "id.resp_p": 443,
            "host": "Gate.Example",
            "uri": "/x",
            "user_agent": "UA",
            "tags": ["a", "b"],
            "dur": 2.0,
            "ok": True,
        },
    ]
    text = (
        json.dumps(recs[0])
        + "\n[1, 2]\n{broken\n\n"
        + json.dumps({"ts": "2020-01-01T00:00:00Z", "host": "-"})
    )
    r = read_log(_write(tmp_path, "http.log", text))
    assert (r.format, r.rows, r.bad_lines) == ("zeek-json", 2, 2)
    assert [e.split(":")[0] for e in r.errors] == ["line 2", "line 3"]
    a, b = r.table.to_pylist()
    assert a["url.full"] == "https://Gate.Example/x" and a["url.domain"] == "gate.example"
    assert a["event.dataset"] == "zeek.http" and a["source.port"] == "5" and a["host.name"] == "10.0.1.4"
    assert a["@timestamp"] == "2020-04-30T00:06:38.500Z"
    assert b["@timestamp"] == "2020-01-01T00:00:00Z" and b["url.full"] is None
    seg = r.sigma_segments()[0].table.to_pylist()
    assert seg[0]["id.orig_h"] == "10.0.1.4" and seg[0]["tags"] == "a,b" and seg[0]["dur"] == "2"
    assert seg[0]["ok"] == "true" and seg[0][ROW] == 0 and seg[1]["host"] is None and seg[1][ROW] == 1
    assert r.original([1]) == [json.dumps({"ts": "2020-01-01T00:00:00Z", "host": "-"})]


def test_zeek_tsv_files_and_segment(tmp_path: Path) -> None:
    text = (
        "#separator \\x09\n#set_separator\t,\n#path\tfiles\n"
        "#fields\tts\tfuid\ttx_hosts\trx_hosts\tfilename\tmd5\tsha256\n"
        "1588205198.1\tF1\t203.0.113.9,203.0.113.10\t10.0.1.5\t-\tABCDEF\t(empty)\n"
        "1588205198.2\tF2\tonly-two\n"
        "#close\t2020-04-30\n"
    )
    r = read_log(_write(tmp_path, "x.log", text))
    assert (r.format, r.rows, r.bad_lines, r.errors) == (
        "zeek-tsv",
        1,
        1,
        ["line 6: values do not match the 7 #fields"],
    )
    row = r.table.to_pylist()[0]
    assert row["source.ip"] == "203.0.113.9" and row["destination.ip"] == "10.0.1.5" == row["host.name"]
    assert row["file.hash.md5"] == "abcdef" and row["file.hash.sha256"] is None and row["file.path"] is None
    seg = r.sigma_segments()[0].table.to_pylist()
    assert seg == [
        {
            "ts": "1588205198.1",
            "fuid": "F1",
            "tx_hosts": "203.0.113.9,203.0.113.10",
            "rx_hosts": "10.0.1.5",
            "filename": None,
            "md5": "ABCDEF",
            "sha256": None,
            ROW: 0,
        }
    ]


def test_undecodable_and_overlong_lines_are_counted(tmp_path: Path) -> None:
    good = "1286536309.450 1 192.168.0.2 TCP_MISS/200 1 GET http://a.example/ - HIER_DIRECT/- -\n"
    p = _write(
        tmp_path, "access.log", good.encode() + b"\xff\xfe bad\n" + good.encode() + b"x\n" + good.encode()
    )
    r = read_log(p, "squid")
    assert (r.rows, r.bad_lines) == (3, 2)
    assert r.errors[0].startswith("line 2: invalid") and r.errors[1] == "line 4: not a Squid access-log line"
    assert r.original([2]) == [good.rstrip("\n")]


def test_file_lines_skips_rejected() -> None:
    import numpy as np

    # lines 3 and 5 rejected: returned rows 1,2,3,4 are file lines 1,2,4,6
    assert file_lines(np.array([1, 2, 3, 4]), [3, 5]).tolist() == [1, 2, 4, 6]


def test_csv_and_json_with_mapping(tmp_path: Path) -> None:
    csv_file = _write(
        tmp_path,
        "proxy.csv",
        "when,client,site,url.full\n2024-01-01T00:00:00Z,pc1,Evil.example,http://X.example/a\nx,y\n\n",
    )
    mapping = {"when": "@timestamp", "client": "host.name", "site": "destination.domain"}
    c = read_log(csv_file, mapping=mapping)
    assert (c.format, c.rows, c.bad_lines) == ("csv", 1, 1) and c.errors[0].startswith("line 3")
    row = c.table.to_pylist()[0]
    assert row["destination.domain"] == "Evil.example" and row["url.domain"] == "x.example"
    assert row["client"] == "pc1" and c.original([0]) == [
        "2024-01-01T00:00:00Z,pc1,Evil.example,http://X.example/a"
    ]
    j = _write(
        tmp_path,
        "events.jsonl",
        '{"proxy": {"url": "http://C2.example/x"}, "src": "10.0.0.1", "Hashes": "MD5=AA,SHA256=BB", "n": 3}\n'
        "not json\n",
    )
    r = read_log(j, mapping={"proxy.url": "url.full", "src": "source.ip"})
    assert (r.format, r.rows, r.bad_lines) == ("json", 1, 1)
    row = r.table.to_pylist()[0]
    assert row["url.full"] == "http://C2.example/x" and row["url.domain"] == "c2.example"
    assert row["source.ip"] == "10.0.0.1" and row["file.hash.sha256"] == "bb" and row["n"] == "3"


# --- the normalised rows against a tiny reference, over generated lines --------------------------------

_SQUID_RE = re.compile(
    r"^(\d{9,11}(?:\.\d+)?)\s+-?\d+\s+(\S+)\s+[A-Z_]+/\d{3}\s+\d+\s+(\S+)\s+(\S+)\s+(\S+)\s+[A-Z_]+/(\S+)"
)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _host(url: str) -> str | None:
    if "://" not in url:
        return None
    h = url.split("://", 1)[1]
    for c in "/?#":
        h = h.split(c, 1)[0]
    h = h.rsplit("@", 1)[-1]
    if h.startswith("["):
        return h[1 : h.find("]")].lower() if "]" in h else None
    return h.split(":", 1)[0].lower() or None


def _squid_ref(line: str) -> dict[str, Any] | None:
    m = _SQUID_RE.match(line)
    if m is None:
        return None
    ts, client, method, url, ident, peer = m.groups()
    tunnel = method == "CONNECT" and "://" not in url
    domain = url.rsplit(":", 1)[0].lower() if tunnel else _host(url)
    return {
        "@timestamp": _iso(float(ts)),
        "source.ip": client,
        "host.name": client,
        "destination.ip": None if peer == "-" else peer,
        "url.full": None if tunnel else url,
        "url.domain": domain,
        "destination.domain": domain,
        "user.name": None if ident == "-" else ident,
    }


def _gen_squid(rng: random.Random, n: int) -> list[str]:
    hosts = ["a.example", "B.Example", "x.y.z.test", "u:p@h.example:8080", "h.example:443", "[2001:db8::2]"]
    out = []
    for i in range(n):
        host = rng.choice(hosts)
        url = rng.choice(
            [f"http://{host}/p{i}?q", f"HTTPS://{host}", f"{host.split('@')[-1]}:443", f"ftp://{host}#f"]
        )
        method = "CONNECT" if "://" not in url else rng.choice(["GET", "POST", "CONNECT"])
        sep = rng.choice([" ", "  ", "\t"])
        peer = rng.choice(["-", "198.51.100.4"])
        line = (
            f"{1_600_000_000 + rng.random() * 1e8:.3f}{sep}{rng.randrange(-5, 900)} 10.0.{i % 256}.1"
            f" TCP_MISS/{rng.choice([200, 404])} {rng.randrange(99)} {method} {url}"
            f" {rng.choice(['-', 'bob'])} HIER_DIRECT/{peer}" + rng.choice(["", " text/html"])
        )
        if rng.random() < 0.05:
            line = rng.choice(["junk", line.replace("TCP_MISS/", "tcp/"), " " + line, line[:20]])
        out.append(line)
    return out


def _zeek_ref(rec: dict[str, Any]) -> dict[str, Any]:
    q = rec.get("query")
    return {
        "@timestamp": _iso(rec["ts"]),
        "source.ip": rec.get("id.orig_h"),
        "host.name": rec.get("id.orig_h"),
        "destination.ip": rec.get("id.resp_h"),
        "source.port": str(rec["id.orig_p"]),
        "dns.question.name": None if q in (None, "", "-") else q,
    }


def test_readers_match_reference(tmp_path: Path) -> None:
    rng = random.Random(7)
    lines = _gen_squid(rng, 3000)
    r = read_log(_write(tmp_path, "access.log", "\n".join(lines) + "\n"), "squid")
    want = [x for x in map(_squid_ref, lines) if x is not None]
    assert r.bad_lines == len(lines) - len(want)
    got = r.table.select(list(want[0])).to_pylist()
    assert got == want
    recs = [
        {
            "ts": round(1_600_000_000 + rng.random() * 1e8, 6),
            "uid": f"C{i}",
            "id.orig_h": f"10.0.0.{i % 250}",
            "id.orig_p": rng.randrange(65536),
            "id.resp_h": "192.0.2.53",
            "query": rng.choice(["a.example", "B.EXAMPLE.", "-", "", None, "x\u00e9.test"]),
            "answers": ["192.0.2.1"],
        }
        for i in range(2000)
    ]
    z = read_log(_write(tmp_path, "dns.log", "".join(json.dumps(x) + "\n" for x in recs)))
    assert (z.format, z.bad_lines) == ("zeek-json", 0)
    want_z = [_zeek_ref(x) for x in recs]
    assert z.table.select(list(want_z[0])).to_pylist() == want_z
