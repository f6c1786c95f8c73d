"""Hunt: readers, IOC sweep semantics, output, CLI end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from aptcatch.hunt.cli import hunt
from aptcatch.hunt.ioc import IndicatorSet, parse_ioc_lines, sweep
from aptcatch.hunt.output import alerts, evidence, provenance
from aptcatch.hunt.readers import ReadResult, build_table, detect_format, read_log

ZEEK_DNS_JSON = (
    '{"ts":1588205198.89971,"uid":"C1","id.orig_h":"10.0.1.4","id.orig_p":1,"id.resp_h":"10.0.0.4",'
    '"id.resp_p":53,"query":"a.b.Evil.example"}\n'
)
ZEEK_TSV = (
    "#separator \\x09\n#path\thttp\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\thost\turi\n"
    "1588205198.1\tC2\t10.0.1.5\t5000\t203.0.113.9\t80\tGate.Example:80\t/x.php?a=1\n"
    "broken line\n"
)
SQUID = (
    "1286536309.450    120 192.168.0.2 TCP_MISS/200 1024 GET http://notevil.example/a - "
    "HIER_DIRECT/198.51.100.7 text/html\n"
    "1286536310.450     10 192.168.0.3 TCP_TUNNEL/200 50 CONNECT evil.example:443 - "
    "HIER_DIRECT/198.51.100.8 -\n"
    "garbage\n"
)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def _iocs(*lines: str) -> IndicatorSet:
    s = IndicatorSet()
    parse_ioc_lines(lines, "test", s)
    return s


def _table(**cols: list[str | None]) -> ReadResult:
    n = len(next(iter(cols.values())))
    rows = [{k: v[i] for k, v in cols.items()} for i in range(n)]
    return ReadResult(Path("t.log"), "json", build_table(rows))


def test_zeek_json_and_tsv(tmp_path: Path) -> None:
    j = _write(tmp_path, "dns.log", ZEEK_DNS_JSON + "{not json\n")
    t = _write(tmp_path, "http.log", ZEEK_TSV)
    rj, rt = read_log(j), read_log(t)
    assert (rj.format, rj.rows, rj.bad_lines) == ("zeek-json", 1, 1)
    row = rj.table.to_pylist()[0]
    assert row["dns.question.name"] == "a.b.Evil.example" and row["host.name"] == "10.0.1.4"
    assert row["@timestamp"].startswith("2020-04-30T00:06:38")
    assert (rt.format, rt.rows, rt.bad_lines) == ("zeek-tsv", 1, 1)
    assert rt.table.to_pylist()[0]["url.full"] == "http://Gate.Example:80/x.php?a=1"


def test_squid_and_csv_mapping(tmp_path: Path) -> None:
    r = read_log(_write(tmp_path, "access.log", SQUID))
    assert (r.format, r.rows, r.bad_lines) == ("squid", 2, 1)
    rows = r.table.to_pylist()
    assert rows[0]["url.domain"] == "notevil.example" and rows[1]["destination.domain"] == "evil.example"
    csv_file = _write(tmp_path, "proxy.csv", "when,client,site\n2024-01-01T00:00:00Z,pc1,evil.example\nx,y\n")
    mapping = {"when": "@timestamp", "client": "host.name", "site": "destination.domain"}
    c = read_log(csv_file, mapping=mapping)
    assert (c.format, c.rows, c.bad_lines) == ("csv", 1, 1)
    assert c.table.to_pylist()[0]["destination.domain"] == "evil.example"


def test_unknown_format_is_counted(tmp_path: Path) -> None:
    p = tmp_path / "blob.bin"
    p.write_bytes(b"\x00\x01\x02")
    assert detect_format(p) is None
    assert read_log(p).errors == ["format not recognised"]


def test_domain_suffix_join() -> None:
    t = _table(**{"dns.question.name": ["a.b.Evil.example.", "notevil.example", "evil.example", "example"]})
    ms = sweep([t], _iocs("evil.example"))
    assert [(m.row_id, m.match) for m in ms] == [(0, "parent-domain"), (2, "exact")]


def test_cidr_boundaries() -> None:
    ips = ["10.1.2.255", "10.1.3.0", "10.1.3.255", "10.1.4.0", "192.0.2.1", "192.0.2.2", "x.y", None]
    ms = sweep([_table(**{"destination.ip": ips})], _iocs("10.1.3.0/24", "192.0.2.1"))
    assert [(m.observed, m.match) for m in ms] == [
        ("10.1.3.0", "cidr"),
        ("10.1.3.255", "cidr"),
        ("192.0.2.1", "exact"),
    ]


def test_url_normalisation_and_hashes() -> None:
    urls = [
        "HTTP://Gate.Example:80/x.php?a=1",
        "http://gate.example/x.php?a=2",
        "https://gate.example:443",
        None,
    ]
    sha = "A" * 64
    t = _table(**{"url.full": urls, "file.hash.sha256": [None, sha, None, "b" * 64]})
    ms = sweep([t], _iocs("http://gate.example/x.php?a=1", "hxxps://gate[.]example/", "a" * 64))
    assert [(m.row_id, m.rule_id) for m in ms] == [(0, "ioc.url"), (1, "ioc.hash"), (2, "ioc.url")]


def test_alerts_and_evidence() -> None:
    t = _table(
        **{
            "@timestamp": ["2024-05-01T10:00:00Z"],
            "host.name": ["pc1"],
            "dns.question.name": ["x.evil.example"],
        }
    )
    iocs = _iocs("evil.example;APT-X C2")
    ms = sweep([t], iocs)
    docs = alerts(ms, [t], provenance(ms, iocs, None))
    assert docs[0]["rule.id"] == "ioc.domain" and docs[0]["threat.indicator.value"] == "evil.example"
    assert docs[0]["threat.indicator.description"] == ["APT-X C2"]
    ev = evidence(docs)
    assert [(i.type, i.value) for i in ev.indicators] == [("domain", "x.evil.example")]
    assert str(ev.first_seen) == "2024-05-01"


def test_rejected_iocs() -> None:
    s = _iocs("# comment", "", "just text", "evil.example")
    assert len(s) == 1 and len(s.rejected) == 1


@pytest.mark.corpus
def test_evtx_and_truncated(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "evtx-attack-samples" / "Defense Evasion" / "DE_UAC_Disabled_Sysmon_12_13.evtx"
    r = read_log(src)
    assert r.format == "evtx" and r.rows == 3 and r.bad_lines == 0
    row = r.table.to_pylist()[0]
    assert row["host.name"] == "DC1.insecurebank.local" and row["event.code"] == "1"
    assert row["process.executable"].endswith("reg.exe") and row["file.hash.sha256"]
    cut = tmp_path / "cut.evtx"
    cut.write_bytes(src.read_bytes()[:30000])
    c = read_log(cut)
    assert c.format == "evtx" and c.bad_lines >= 1 and c.errors
    bad = tmp_path / "bad.evtx"
    data = bytearray(src.read_bytes())
    data[4096 + 612 : 4096 + 912] = b"A" * 300
    bad.write_bytes(bytes(data))
    assert read_log(bad).bad_lines >= 1


@pytest.mark.corpus
def test_end_to_end_zeek(shared_data: Path, tmp_path: Path) -> None:
    logs = shared_data / "security-datasets/datasets/compound/apt29/day1/zeek/individual_zeek_logs"
    folder = tmp_path / "logs"
    folder.mkdir()
    for name in ("SCRANTON_dns.log", "SCRANTON_http.log", "SCRANTON_conn.log"):
        shutil.copy(logs / name, folder / name)
    iocs = _write(tmp_path, "iocs.txt", "dmevals.local;lab domain\n192.168.0.0/24\nnotdmevals.local\n")
    ev = tmp_path / "ev.json"
    res = CliRunner().invoke(
        hunt, [str(folder), "--iocs", str(iocs), "--no-knowledge", "--json", "--evidence", str(ev)]
    )
    assert res.exit_code == 1, res.output
    docs = [json.loads(line) for line in res.output.splitlines()]
    rules = {d["rule.id"] for d in docs}
    assert rules == {"ioc.domain", "ioc.ip"}
    assert all(d["threat.indicator.value"] != "notdmevals.local" for d in docs)
    assert json.loads(ev.read_text())["source"] == "hunt"


def test_knowledge_hit_carries_feed_provenance_and_group(tmp_path: Path) -> None:
    from aptcatch.hunt.ioc import load_indicators
    from aptcatch.knowledge.models import Claim, Indicator, IndicatorClaim
    from aptcatch.knowledge.sqlite_store import SqliteStore

    store = SqliteStore(tmp_path / "kb.sqlite")
    claim = IndicatorClaim(Claim("feed bitter/iocs.csv", "iocs.csv line 3"), "group", "BITTER", "C2 server")
    store.add_indicators(
        "feed bitter/iocs.csv", "t", [Indicator("domain", "frameworksupport.example", (claim,))]
    )
    t = _table(
        **{"@timestamp": ["2024-05-01T10:00:00Z"], "dns.question.name": ["cdn.frameworksupport.example"]}
    )
    iocs = load_indicators(store)
    ms = sweep([t], iocs)
    assert [(m.value, m.match) for m in ms] == [("frameworksupport.example", "parent-domain")]
    docs = alerts(ms, [t], provenance(ms, iocs, store))
    assert "feed bitter/iocs.csv" in docs[0]["threat.indicator.provider"]
    assert "BITTER" in json.dumps(docs[0])
    store.close()
