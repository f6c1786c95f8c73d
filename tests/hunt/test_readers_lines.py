"""Line positions of the DuckDB line readers: a row's line is its position in a parallel, ordered scan.

The readers number no line in SQL; these tests make DuckDB cut a file into many small buffers (scanned
by both threads) and check that every table row, bad line and read-back original is the right line.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

import aptcatch.hunt.readers.duck as duck
from aptcatch.hunt.readers import read_log
from aptcatch.hunt.readers.base import ROW


@pytest.fixture
def small_buffers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Buffers of 64 KiB (lines up to 32 KiB): a file of a few MiB is dozens of buffers."""
    monkeypatch.setattr(duck, "MAX_LINE", 32 * 1024)
    monkeypatch.setattr(duck, "BUFFER", 64 * 1024)
    monkeypatch.setattr(duck, "STREAM_BATCH", 997)


def _squid_line(n: int, rng: random.Random) -> str:
    pad = " " * rng.randrange(1, 4)
    return (
        f"{1_600_000_000 + n}.{n % 1000:03d}{pad}{rng.randrange(999)} 10.0.{n % 256}.{n % 250 + 1}"
        f" TCP_MISS/200 {n} GET http://h{n}.example/p?{n} - HIER_DIRECT/192.0.2.{n % 200 + 1} text/html"
    )


def test_squid_rows_bad_lines_and_originals_keep_their_lines(tmp_path: Path, small_buffers: None) -> None:
    rng = random.Random(11)
    lines: list[str] = []
    kept: list[int] = []  # 1-based file line numbers of the rows
    bad: list[int] = []
    for n in range(1, 30_001):
        r = rng.random()
        if r < 0.01:
            lines.append(rng.choice(["", "   ", "\t"]))
        elif r < 0.02:
            lines.append(rng.choice(["garbage", "1600000000.1 5 x tcp_miss/200 1 GET u - H/-"]))
            bad.append(n)
        else:
            lines.append(_squid_line(n, rng))
            kept.append(n)
    path = tmp_path / "access.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert path.stat().st_size > 40 * duck.BUFFER
    r = read_log(path, "squid")
    assert (r.rows, r.bad_lines) == (len(kept), len(bad))
    assert r.errors == [f"line {n}: not a Squid access-log line" for n in bad[: duck.MAX_ERRORS]]
    # each row's own fields name its line: the URL host is h<line>
    hosts = r.table.column("url.domain").to_pylist()
    assert hosts == [f"h{n}.example" for n in kept]
    picked = [*sorted(rng.sample(range(r.rows), 300)), 0, r.rows - 1, 7, 7]
    assert r.original(picked) == [lines[kept[i] - 1] for i in picked]


def test_zeek_json_and_tsv_segments_follow_the_rows(tmp_path: Path, small_buffers: None) -> None:
    rng = random.Random(5)
    recs, text = [], []
    for n in range(20_000):
        if rng.random() < 0.01:
            text.append(rng.choice(["{broken", "[1, 2]", ""]))
            continue
        rec = {"ts": 1_600_000_000 + n, "uid": f"C{n}", "id.orig_h": "10.0.0.1", "query": f"q{n}.example"}
        recs.append(rec)
        text.append(json.dumps(rec))
    path = tmp_path / "dns.log"
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    r = read_log(path, "zeek-json")
    assert r.rows == len(recs)
    assert r.table.column("dns.question.name").to_pylist() == [x["query"] for x in recs]
    seg = r.sigma_segments()[0].table
    assert seg.column("uid").to_pylist() == [x["uid"] for x in recs]
    assert seg.column(ROW).to_pylist() == list(range(len(recs)))

    header = "#separator \\x09\n#path\tdns\n#fields\tts\tuid\tid.orig_h\tquery\n"
    rows = [f"{1_600_000_000 + n}\tC{n}\t10.0.0.{n % 250}\tq{n}.example" for n in range(20_000)]
    body = [x if n % 97 else "#comment" if n % 2 else "short\tline" for n, x in enumerate(rows)]
    tsv = tmp_path / "dns.tsv.log"
    tsv.write_text(header + "\n".join(body) + "\n", encoding="utf-8")
    t = read_log(tsv, "zeek-tsv")
    want = [x for n, x in enumerate(rows) if n % 97]
    assert t.rows == len(want) and t.bad_lines == sum(1 for n in range(20_000) if n % 97 == 0 and n % 2 == 0)
    assert t.sigma_segments()[0].table.column("uid").to_pylist() == [x.split("\t")[1] for x in want]
    some = np.random.default_rng(3).choice(t.rows, 50, replace=False).tolist()
    assert t.original(some) == [want[i] for i in some]


def test_mixed_line_ends_are_cut_on_newlines(tmp_path: Path) -> None:
    """DuckDB's strict parser stops at a stray CR or a line end unlike the first ones; such files are
    cut on LF alone (a CR before it dropped), not crashed on and no line lost."""
    good = "1286536309.450 1 192.168.0.2 TCP_MISS/200 1 GET http://a.example/ - HIER_DIRECT/- -"
    stray = good.replace("a.example/", "a.example/\rx")
    path = tmp_path / "access.log"
    path.write_bytes(f"{good}\r\n{good}\n{stray}\r\n\xff\n\n{good}".encode("latin-1"))
    r = read_log(path, "squid")
    assert isinstance(r, duck.LineResult) and not r.strict  # DuckDB's CSV scan gave up on this file
    assert (r.rows, r.bad_lines) == (4, 1)
    assert r.errors == ["line 4: invalid encoding"]
    assert r.original([0, 1, 2, 3]) == [good, good, stray, good]
    assert r.table.column("url.full").to_pylist()[2] == "http://a.example/\rx"
    z = tmp_path / "conn.log"
    z.write_bytes(b'{"ts": 1, "id.orig_h": "10.0.0.1"}\r\n{"ts": 2, "id.orig_h": "10.0.0.2"}\nnope\r\n')
    zr = read_log(z, "zeek-json")
    assert isinstance(zr, duck.LineResult) and not zr.strict
    assert (zr.rows, zr.bad_lines, zr.errors) == (2, 1, ["line 3: not a JSON object"])
    assert zr.table.column("source.ip").to_pylist() == ["10.0.0.1", "10.0.0.2"]
    assert zr.sigma_segments()[0].table.column("id.orig_h").to_pylist() == ["10.0.0.1", "10.0.0.2"]


def test_rejected_lines_shift_positions_not_rows(tmp_path: Path) -> None:
    good = [
        f"1286536309.450 1 192.168.0.{n} TCP_MISS/200 1 GET http://h{n}.example/ - HIER_DIRECT/- -"
        for n in range(6)
    ]
    data = (
        good[0].encode()
        + b"\n\xff bad\n"
        + good[1].encode()
        + b"\n\n"
        + good[2].encode()
        + b"\nx\n"
        + b"\xc3\x28\n"
        + good[3].encode()
        + b"\n"
    )
    path = tmp_path / "access.log"
    path.write_bytes(data)
    r = read_log(path, "squid")
    assert (r.rows, r.bad_lines) == (4, 3)
    assert [e.split(":")[0] for e in r.errors] == ["line 2", "line 6", "line 7"]
    assert r.original([0, 1, 2, 3]) == good[:4]
    assert r.table.column("url.domain").to_pylist() == [f"h{n}.example" for n in range(4)]


@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_a_line_at_the_size_limit_counts_alike_in_both_cuts(
    tmp_path: Path, small_buffers: None, extra: int
) -> None:
    """DuckDB rejects a line of MAX_LINE bytes or more; the Python cut (a file with a stray CR) must
    reject the same lines, or its later lines are numbered unlike DuckDB's."""
    good = "1286536309.450 1 192.168.0.2 TCP_MISS/200 1 GET http://a.example/ - HIER_DIRECT/- -"
    long = "x" * (duck.MAX_LINE + extra)
    rejected = extra >= 0
    for stray in ("", "\r"):  # without a CR DuckDB cuts the file; with one, cut_lines does
        path = tmp_path / f"a{len(stray)}.log"
        last = good.replace("a.example/", f"a.example/{stray}x")  # a CR inside a field: still an event
        path.write_bytes(f"{good}\n{long}\nnot a squid line\n{last}\n".encode())
        r = read_log(path, "squid")
        assert isinstance(r, duck.LineResult) and r.strict == (stray == ""), stray
        assert r.bad_lines == 2 and r.rows == 2, (stray, extra)
        assert [e.split(":")[0] for e in r.errors] == ["line 2", "line 3"], (stray, extra)
        assert (r.errors[0].endswith("line size over maximum")) == rejected, (stray, r.errors)
        assert r.original([0, 1]) == [good, last]
