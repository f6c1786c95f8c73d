"""Lazy Zeek results: read for the IOC sweep's columns only, the full table built when asked for.

The lazy result must answer exactly what the eager read (the full projection run at once) answers: rows,
bad lines and their numbers, every column of every row, the alert columns of picked rows and originals;
and a sweep plus its alerts must not build the full table.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

import aptcatch.hunt.readers.duck as duck
import aptcatch.hunt.readers.zeek as zeek
from aptcatch.hunt import output
from aptcatch.hunt.ioc import IndicatorSet, parse_ioc_lines, sweep
from aptcatch.hunt.readers import read_log
from aptcatch.hunt.readers.base import OBSERVED_COLUMNS
from aptcatch.hunt.readers.duck import LineResult


@pytest.fixture
def small_buffers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(duck, "MAX_LINE", 32 * 1024)
    monkeypatch.setattr(duck, "BUFFER", 64 * 1024)
    monkeypatch.setattr(duck, "STREAM_BATCH", 997)


def _record(ltype: str, n: int, rng: random.Random) -> dict[str, object]:
    rec: dict[str, object] = {"ts": 1_600_000_000 + n / 7, "uid": f"C{n}", "_path": ltype}
    under = rng.random() < 0.2  # RockNSM's id_orig_h spelling
    for k, v in (("orig_h", f"10.0.{n % 256}.1"), ("orig_p", n % 65536), ("resp_h", "192.0.2.9")):
        if rng.random() < 0.95:
            rec[f"id_{k}" if under else f"id.{k}"] = v
    rec["id.resp_p"] = rng.choice([53, 80, 443, "-"])
    if ltype == "dns":
        rec["query"] = rng.choice([f"q{n}.evil.example", "B.EXAMPLE.", "-", "", None])
    elif ltype == "http":
        rec["host"] = rng.choice([f"h{n}.example", "evil.example:8080", None])
        rec["uri"] = rng.choice(["/a?b", "http://x.evil.example/p", None])
        rec["user_agent"] = "curl/8"
    elif ltype == "files":
        rec |= {"fuid": f"F{n}", "tx_hosts": ["192.0.2.1"], "rx_hosts": ["10.0.0.2"], "md5": "AB" * 16}
    elif ltype == "ssl":
        rec["server_name"] = rng.choice([f"s{n}.evil.example", None])
    return rec


def _write_json(path: Path, ltype: str, rows: int, seed: int) -> None:
    rng = random.Random(seed)
    lines = []
    for n in range(rows):
        r = rng.random()
        if r < 0.01:
            lines.append(rng.choice(["", "  ", "{broken", "[1, 2]", "# x"]))
        else:
            lines.append(json.dumps(_record(ltype, n, rng)))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _eager_json(path: Path, ltype: str) -> LineResult:
    select = zeek._json_select(ltype, observed=False)
    return duck.run_lines(path, "zeek-json", select, "not a JSON object", share=zeek._share(ltype))


@pytest.mark.parametrize("ltype", ["dns", "http", "files", "ssl", "conn"])
def test_lazy_json_answers_what_the_eager_read_does(tmp_path: Path, small_buffers: None, ltype: str) -> None:
    path = tmp_path / f"{ltype}.log"
    _write_json(path, ltype, 6000, seed=len(ltype))
    lazy, eager = read_log(path, "zeek-json"), _eager_json(path, ltype)
    assert isinstance(lazy, LineResult) and lazy.full_select is not None and lazy.bad_lines > 0
    assert (lazy.rows, lazy.bad_lines, lazy.errors) == (eager.rows, eager.bad_lines, eager.errors)
    observed = lazy.observed()
    for name in OBSERVED_COLUMNS:
        assert observed.column(name).to_pylist() == eager.table.column(name).to_pylist(), name
    rng = random.Random(1)
    rows = [*sorted(rng.sample(range(lazy.rows), 200)), 0, lazy.rows - 1, 5, 5]
    cols = ["@timestamp", "host.name", "event.dataset", "source.port", "url.full", "nope"]
    assert lazy.take(rows, cols).to_pylist() == eager.take(rows, cols).to_pylist()
    assert lazy._full is None  # picking rows did not build the full table
    assert lazy.table.equals(eager.table)
    assert lazy.original(rows) == eager.original(rows)


@pytest.mark.parametrize("ltype", ["dns", "http", "files", "conn"])
def test_id_spelling_read_second_gives_the_same_values(tmp_path: Path, ltype: str) -> None:
    path = tmp_path / f"{ltype}.log"
    _write_json(path, ltype, 3000, seed=11)  # a fifth of the records spell id_orig_h, some lack ids
    share = zeek._share(ltype)
    for observed in (True, False):
        both = [
            duck.run_lines(path, "zeek-json", zeek._json_select(ltype, observed, dotted=d), "x", share=share)
            for d in (True, False)
        ]
        assert both[0].table.equals(both[1].table), (ltype, observed)
        assert (both[0].bad_lines, both[0].errors) == (both[1].bad_lines, both[1].errors)
    if ltype != "files":
        ids = duck.run_lines(path, "zeek-json", zeek._json_select(ltype, True, dotted=True), "x", share=share)
        assert ids.table.column("source.ip").null_count < ids.rows // 10  # both spellings were read


def test_lazy_tsv_answers_what_the_eager_read_does(tmp_path: Path, small_buffers: None) -> None:
    header = "#separator \\x09\n#path\tdns\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tquery\n"
    body = []
    for n in range(8000):
        row = f"{1_600_000_000 + n}\tC{n}\t10.0.0.{n % 250}\t{n}\t192.0.2.1\tq{n}.example"
        body.append(row if n % 89 else "#c" if n % 2 else "short\tline")
    path = tmp_path / "dns.tsv.log"
    path.write_text(header + "\n".join(body) + "\n", encoding="utf-8")
    lazy = read_log(path, "zeek-tsv")
    assert isinstance(lazy, LineResult) and lazy.full_select is not None
    describe, share = "values do not match the 6 #fields", zeek._share("dns")
    eager = duck.run_lines(path, "zeek-tsv", lazy.full_select, describe, share=share)
    assert (lazy.rows, lazy.bad_lines, lazy.errors) == (eager.rows, eager.bad_lines, eager.errors)
    rows = list(range(0, lazy.rows, 97))
    assert (
        lazy.take(rows, ["@timestamp", "source.port"]).to_pylist()
        == eager.take(rows, ["@timestamp", "source.port"]).to_pylist()
    )
    assert lazy.sigma_segments()[0].constants == {"event.dataset": "zeek.dns"}
    assert lazy._full is None  # the Sigma segment is made of the raw fields, not the table
    assert lazy.table.equals(eager.table)


def test_sweep_and_alerts_do_not_build_the_full_table(tmp_path: Path) -> None:
    path = tmp_path / "dns.log"
    _write_json(path, "dns", 3000, seed=9)
    result = read_log(path)
    indicators = IndicatorSet()
    parse_ioc_lines(["evil.example"], "t", indicators)
    matches = sweep([result], indicators)
    assert len(matches) > 100
    alerts = output.alerts(matches, [result], output.provenance(matches, indicators, None))
    assert isinstance(result, LineResult) and result._full is None
    hit = alerts[0]
    row = result.table.take([matches[0].row_id]).to_pylist()[0]
    assert (hit["@timestamp"], hit["host.name"]) == (row["@timestamp"], row["host.name"])
    assert hit["event.original"] == result.original([matches[0].row_id])[0]


# --- Squid: read for the sweep's columns, the rest (and Sigma's segment) when asked for --------------


def _squid_lines(rng: random.Random, n: int, ident: tuple[str, ...], common: bool) -> list[str]:
    out = []
    for i in range(n):
        host = rng.choice(["a.example", "U:P@B.Example:8080", "[2001:db8::2]", "c.test"])
        url = rng.choice([f"http://{host}/p{i}", f"{host.split('@')[-1]}:443", f"ftp://{host}#x"])
        method = "CONNECT" if "://" not in url else rng.choice(["GET", "POST"])
        who = rng.choice(ident)
        if common:
            stamp = rng.choice(["10/Oct/2024:13:55:36 -0700", "99/Xyz/2024:00:00:00 +0000"])
            tail = rng.choice(["", ' "-" "curl/8"', ' "http://r.example/" "-" TCP_MISS:HIER_DIRECT'])
            line = f'10.0.0.{i % 250} {who} {who} [{stamp}] "{method} {url} HTTP/1.1" 200 {i}{tail}'
        else:
            sep = rng.choice([" ", "   ", "\t"])
            peer = rng.choice(["-", "198.51.100.4"])
            line = (
                f"{1_600_000_000 + i / 3:.3f}{sep}{rng.randrange(-3, 900)} 10.0.0.{i % 250}"
                f" TCP_MISS/200 {i} {method} {url} {who} HIER_DIRECT/{peer}" + rng.choice(["", " text/html"])
            )
        if rng.random() < 0.03:
            line = rng.choice(["", "  ", "junk", " " + line, line[:25]])
        out.append(line)
    return out


@pytest.mark.parametrize("common", [False, True])
@pytest.mark.parametrize("ident", [("-", "bob"), ("-",)])
def test_lazy_squid_answers_what_the_eager_read_does(
    tmp_path: Path, small_buffers: None, common: bool, ident: tuple[str, ...]
) -> None:
    path = tmp_path / "access.log"
    path.write_text("\n".join(_squid_lines(random.Random(len(ident)), 5000, ident, common)) + "\n")
    lazy = read_log(path, "squid")
    assert isinstance(lazy, LineResult) and lazy.full_select is not None and lazy.bad_lines > 0
    assert lazy.rows > 4500  # the layout was recognised
    share = {"host.name": "source.ip", "destination.domain": "url.domain"}
    eager = duck.run_lines(path, "squid", lazy.full_select, "x", share=share, url_host="url.domain")
    assert (lazy.rows, lazy.bad_lines) == (eager.rows, eager.bad_lines)
    assert [e.split(":")[0] for e in lazy.errors] == [e.split(":")[0] for e in eager.errors]
    observed = lazy.observed()
    for name in OBSERVED_COLUMNS:
        assert observed.column(name).to_pylist() == eager.table.column(name).to_pylist(), name

    # the shape Sigma plans from: what the built segment has, told without building it
    (shape,) = lazy.sigma_shapes()
    assert lazy._full is None
    (built,) = eager.sigma_segments()
    exact = set(built.table.column_names) - {"@row"}
    assert set(shape.columns) - shape.uncertain <= exact <= set(shape.columns)
    assert ("user.name" in exact) == (ident != ("-",))
    for name, value in shape.values.items():
        assert set(built.table.column(name).to_pylist()) == {value}

    rows = [*sorted(random.Random(2).sample(range(lazy.rows), 100)), 0, lazy.rows - 1, 3, 3]
    cols = ["@timestamp", "user.name", "event.action", "url.domain", "user_agent.original"]
    assert lazy.take(rows, cols).to_pylist() == eager.take(rows, cols).to_pylist()
    assert lazy.original(rows) == eager.original(rows)
    assert lazy._full is None
    assert lazy.table.equals(eager.table)
    assert lazy.sigma_shapes() == [type(shape).of(s) for s in lazy.sigma_segments()]


def test_lazy_squid_without_events_has_an_empty_shape(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_text("junk\n\n", encoding="utf-8")
    result = read_log(path, "squid")
    assert (result.rows, result.bad_lines) == (0, 1)
    assert [s.rows for s in result.sigma_shapes()] == [0]
    assert [s.rows for s in result.sigma_segments()] == [0]
