"""The Spark engine against the DuckDB engine on the same staged logs: same normalised columns, same counts,
same alerts; the Spark SQL value rules against their Python/DuckDB originals; session and error handling.

One Spark session for the whole module (the JVM starts once); the module skips with the reason when
pyspark or a Java 17+ is missing. Tests that need no JVM run everywhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from aptcatch.hunt.engines import EngineError, open_engine
from aptcatch.hunt.engines.duckdb import DuckDBEngine
from aptcatch.hunt.engines.spark_session import SparkOptions, SparkUnavailable, check_runtime
from aptcatch.hunt.ioc import _MACROS, IndicatorSet, _url_parts, parse_ioc_lines
from aptcatch.hunt.output import alerts, provenance
from aptcatch.hunt.readers import NORMALISED, ReadResult
from aptcatch.hunt.readers.base import iso_from_epoch, url_domain
from tests.hunt.conftest import spark_ready

IOCS = """\
evil.example;planted domain
gate.example
192.0.2.0/24;a TEST-NET-1 block
198.51.100.66
http://dl.example/payload.bin
d41d8cd98f00b204e9800998ecf8427e
9F86D081884C7D659A2FEAE0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08
"""

SQUID = (
    "1286536309.450    120 192.168.0.2 TCP_MISS/200 1024 GET http://notevil.example/a - "
    "HIER_DIRECT/198.51.100.7 text/html\n"
    "1286536310.450     10 192.168.0.3 TCP_TUNNEL/200 50 CONNECT evil.example:443 - "
    "HIER_DIRECT/198.51.100.8 -\n"
    "1286536311.999    100 192.168.0.4 TCP_MISS/200 10 GET HTTP://DL.example:80/payload.bin alice "
    "HIER_DIRECT/198.51.100.66 application/octet-stream\n"
    "1286536312.000    100 192.168.0.4 TCP_MISS/200 10 GET http://dl.example/payload.bin/ - HIER_NONE/- -\n"
    "garbage\n"
    "\n"
    "1286536313.5      100 192.168.0.5 TCP_MISS/200 10 GET http://[2001:db8::1]:8080/x - HIER_DIRECT/- -\n"
)


def _j(**rec: Any) -> str:
    return json.dumps(rec, separators=(",", ":")) + "\n"


ZEEK_DNS = (
    _j(
        ts=1588205198.89971,
        uid="C1",
        **{"id.orig_h": "10.0.1.4", "id.orig_p": 5353},
        query="a.b.Evil.example",
    )
    + _j(
        ts=1588205199.0,
        uid="C2",
        **{"id.orig_h": "10.0.1.5", "id.resp_h": "192.0.2.77"},
        query="evil.example.",
    )
    + _j(ts=1588205200.0005, uid="C3", **{"id.orig_h": "10.0.1.6"}, query="notevil.example")
    + _j(
        ts=1588205201,
        uid="C4",
        **{"id_orig_h": "10.0.1.7", "id_resp_h": "192.0.3.1"},
        query="evil.example.test",
    )
    + "{not json\n[1, 2]\n"
    + _j(ts="2020-04-30T00:00:00Z", uid="C5", **{"id.orig_h": "-"}, query="-", answers=["192.0.2.1", None, 3])
)
ZEEK_CONN = _j(
    ts=1588205300.25,
    uid="C6",
    _path="conn",
    **{"id.orig_h": "10.0.0.9", "id.resp_h": "198.51.100.66", "id.resp_p": 443},
    duration=1.0,
) + _j(ts=1588205301.25, uid="C7", **{"id.orig_h": "10.0.0.9", "id.resp_h": "198.51.100.67"}, proto="tcp")
ZEEK_HTTP = _j(
    ts=1588205400.1,
    uid="C8",
    **{"id.orig_h": "10.0.0.10", "id.resp_p": 80},
    host="Gate.Example",
    uri="/x?a=1",
) + _j(
    ts=1588205401.1, uid="C9", **{"id.resp_p": 443}, host="dl.example", uri="/payload.bin", user_agent="ua"
)
ZEEK_FILES = _j(
    ts=1588205500.0,
    fuid="F1",
    tx_hosts=["192.0.2.5", "10.0.0.1"],
    rx_hosts=["10.0.0.11"],
    md5="D41D8CD98F00B204E9800998ECF8427E",
    filename="a.exe",
) + _j(
    ts=1588205501.0, fuid="F2", tx_hosts=[], rx_hosts=["10.0.0.12"], md5="d41d8cd98f00b204e9800998ecf8427f"
)
ZEEK_TSV = (
    "#separator \\x09\n#path\thttp\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\thost\turi\n"
    "1588205198.1\tC2\t10.0.1.5\t5000\t203.0.113.9\t80\tGate.Example:80\t/x.php?a=1\n"
    "1588205199.1\tC3\t10.0.1.5\t5000\t192.0.2.200\t443\tdl.example\t-\n"
    "broken line\n#close\t2020-04-30\n"
)
GENERIC = _j(
    when="2024-01-01T00:00:00Z",
    client={"ip": "10.9.9.9", "name": "pc1"},
    site="WWW.EVIL.EXAMPLE",
    Hashes="MD5=x,SHA256=9f86d081884c7d659a2feae0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
) + _j(
    when="2024-01-01T00:00:01Z",
    client={"ip": "192.0.2.9"},
    site="evil.example.org",
    **{"url.full": "http://a/"},
)
WINDOWS = _j(
    EventID=1,
    Channel="Microsoft-Windows-Sysmon/Operational",
    Computer="ws1",
    Image="C:\\\\x.exe",
    Hashes="SHA256=9F86D081884C7D659A2FEAE0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08",
    UtcTime="2024-01-01 00:00:00.000",
)
FILES = {
    "proxy/access.log": SQUID,
    "zeek/dns.log": ZEEK_DNS,
    "zeek/conn.20200430.log": ZEEK_CONN,
    "zeek/http.json": ZEEK_HTTP,
    "zeek/files.log": ZEEK_FILES,
    "zeek/http_tsv.log": ZEEK_TSV,
    "generic/proxy.jsonl": GENERIC,
    "windows/sysmon.json": WINDOWS,
}
MAPPING = {
    "when": "@timestamp",
    "client.ip": "source.ip",
    "client.name": "host.name",
    "site": "destination.domain",
}


needs_spark = pytest.mark.skipif(spark_ready() is not None, reason=f"Spark unavailable: {spark_ready()}")


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("staged")
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    (root / "iocs.txt").write_text(IOCS, encoding="utf-8")
    return root


def _indicators(root: Path) -> IndicatorSet:
    s = IndicatorSet()
    parse_ioc_lines((root / "iocs.txt").read_text().splitlines(), str(root / "iocs.txt"), s)
    return s


def _hunt(
    engine: Any, sources: list[str], mapping: dict[str, str] | None = None
) -> tuple[list[Any], list[Any]]:
    reading = engine.read(sources, None, mapping)
    inds = _indicators(Path(sources[0]).parent if Path(sources[0]).is_file() else Path(sources[0]))
    matches = engine.sweep_iocs(reading.results, inds)
    return reading.results, alerts(matches, reading.results, provenance(matches, inds, None))


def _key(a: dict[str, Any]) -> tuple[str, str, str, str]:
    return (
        a["rule.id"],
        a["threat.indicator.value"],
        a["threat.indicator.matched.field"],
        a["event.original"],
    )


@needs_spark
def test_same_alerts_as_duckdb(staged: Path, spark_engine: Any) -> None:
    d_results, d_alerts = _hunt(DuckDBEngine(), [str(staged)])
    s_results, s_alerts = _hunt(spark_engine, [str(staged)])
    assert {_key(a) for a in s_alerts} == {_key(a) for a in d_alerts}
    assert s_alerts == d_alerts  # whole documents, in the same order
    got = {(a["threat.indicator.value"], a["threat.indicator.matched.atomic"]) for a in s_alerts}
    planted = {
        ("evil.example", "a.b.Evil.example"),  # subdomain, other case
        ("evil.example", "evil.example."),  # trailing dot
        ("192.0.2.0/24", "192.0.2.77"),  # inside the block
        ("198.51.100.66", "198.51.100.66"),
        ("http://dl.example/payload.bin", "HTTP://DL.example:80/payload.bin"),  # case, default port
        ("d41d8cd98f00b204e9800998ecf8427e", "d41d8cd98f00b204e9800998ecf8427e"),  # Zeek files: lowered
        ("gate.example", "gate.example"),  # url.domain of the Zeek http host Gate.Example
        (
            "9f86d081884c7d659a2feae0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "9f86d081884c7d659a2feae0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        ),
    }
    assert planted <= got
    observed = {atomic for _, atomic in got}
    for miss in ("notevil.example", "evil.example.test", "192.0.3.1", "198.51.100.67", "evil.example.org"):
        assert miss not in observed
    assert "http://dl.example/payload.bin/" not in observed  # a trailing slash is another URL
    counts = [(str(r.path), r.format, r.rows, r.bad_lines) for r in s_results]
    assert counts == [(str(r.path), r.format, r.rows, r.bad_lines) for r in d_results]


@needs_spark
def test_normalised_columns_match_python_readers(staged: Path, spark_engine: Any) -> None:
    reading = spark_engine.read([str(staged)], None, MAPPING)
    python = DuckDBEngine().read([str(staged)], None, MAPPING)
    frame = spark_engine.frame(reading.results)
    rows = frame.where("NOT bad").orderBy("file_id", "rk").collect()
    spark_read = {type(r).__name__ for r in reading.results}
    assert "SparkReadResult" in spark_read  # Zeek/Squid/JSON are read by Spark, not handed over
    for file_id, expected in enumerate(python.results):
        got = [r.asDict() for r in rows if r["file_id"] == file_id]
        want = expected.table.to_pylist()
        originals = expected.original(list(range(expected.rows)))
        assert len(got) == len(want), expected.path
        for g, w, original in zip(got, want, originals, strict=True):
            for name in NORMALISED:
                if name == "event.original":
                    if type(reading.results[file_id]).__name__ == "SparkReadResult":
                        assert g[name] == original, (expected.path, name)
                    continue
                assert g[name] == w.get(name), (expected.path, name, g[name], w.get(name))
            raw = g["raw"] or {}
            for k, v in w.items():  # the raw fields the Python reader kept
                if k not in NORMALISED and k in raw and v is not None and not v.startswith("{"):
                    assert raw[k] == v, (expected.path, k)


def _duckdb_norm_url(values: list[str]) -> dict[str, str]:
    """ioc.py's URL normalisation, run by DuckDB (only values with a scheme are swept)."""
    con = duckdb.connect()
    con.execute(_MACROS)
    con.execute("CREATE TABLE t AS SELECT unnest(?::VARCHAR[]) AS value", [values])
    rows = con.execute(f"SELECT value, norm_url_parts(scheme, hp, rest) FROM {_url_parts('t', 'value')}")
    return dict(rows.fetchall())


@needs_spark
def test_sql_rules_equal_python_and_duckdb(spark_engine: Any) -> None:
    from aptcatch.hunt.engines.spark_sql import URL_RE, norm_url, url_host, url_parts, url_rest
    from aptcatch.hunt.engines.spark_sql import iso_from_epoch as iso_sql
    from aptcatch.hunt.engines.spark_sql import url_domain as url_domain_sql

    urls = [
        "http://Gate.Example:80/x",
        "HTTPS://a.example:443",
        "https://a.example:8443?q",
        "http://user:pw@B.example:81/#f",
        "http://[2001:DB8::1]:80/p",
        "http://[broken/p",
        "ftp://x.example",
        "://nothing",
        "http://a.example/x\n",
    ]
    stamps = ["1588205198.89971", "1588205198.9999996", "0", "1286536309.450", "1e9", "x", "1588205200.0005"]
    spark = spark_engine.spark
    df = spark.createDataFrame([(u,) for u in urls], "u string")
    scheme, hostport = url_parts("u")
    got = (
        df.selectExpr("u", f"{url_host('u')} AS h", f"{scheme} AS s", f"{hostport} AS hpr")
        .selectExpr("*", "lower(hpr) AS hp", f"{url_rest('u', 'hpr')} AS r")
        .selectExpr(
            "u",
            f"{url_domain_sql('u', 'h')} AS d",
            f"{norm_url('s', 'hp', 'r')} AS n",
            f"u RLIKE '{URL_RE}' AS ok",
        )
        .collect()
    )
    assert [r["d"] for r in got] == [url_domain(u) for u in urls]
    assert {r["u"]: r["n"] for r in got if r["ok"]} == _duckdb_norm_url(urls)
    ts = (
        spark.createDataFrame([(s,) for s in stamps], "t string")
        .selectExpr(f"{iso_sql('t', 't')} AS i")
        .collect()
    )
    assert [r["i"] for r in ts] == [iso_from_epoch(s) for s in stamps]


@needs_spark
def test_file_uri_and_missing_inputs(staged: Path, spark_engine: Any) -> None:
    reading = spark_engine.read([(staged / "zeek" / "dns.log").as_uri(), str(staged / "nope.log")])
    assert reading.missing == [str(staged / "nope.log")]
    assert [r.format for r in reading.results] == ["zeek-json"]


@needs_spark
def test_s3a_without_hadoop_aws_says_what_to_add(spark_engine: Any) -> None:
    with pytest.raises(EngineError, match=r"hadoop-aws.*spark\.jars"):
        spark_engine.read(["s3a://bucket/zeek/"])


def test_registry_and_options() -> None:
    with pytest.raises(EngineError, match="unknown engine 'presto'"):
        open_engine("presto")
    assert open_engine("duckdb").name == "duckdb"
    with pytest.raises(ValueError, match="never fetches"):
        SparkOptions(conf=(("spark.jars.packages", "org.apache.hadoop:hadoop-aws:3.4.1"),)).settings()
    settings = SparkOptions(cores=3).settings()
    assert settings["spark.master"] == "local[3]" and settings["spark.ui.enabled"] == "false"
    assert settings["spark.sql.session.timeZone"] == "UTC"


def test_missing_java_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SparkUnavailable, match=r"Java 17 or newer.*bootstrap\.sh"):
        check_runtime()


def test_duckdb_engine_reads_like_read_log(tmp_path: Path) -> None:
    (tmp_path / "dns.log").write_text(ZEEK_DNS, encoding="utf-8")
    reading = DuckDBEngine().read([str(tmp_path), str(tmp_path / "gone")])
    assert reading.missing == [str(tmp_path / "gone")]
    (r,) = reading.results
    assert isinstance(r, ReadResult) and (r.format, r.rows, r.bad_lines) == ("zeek-json", 5, 2)
