"""IOC sweep over generated Squid + Zeek DNS logs (mid-size): exactly the planted hits, near-misses not.

The same shape as ``benchmarks/hunt_ioc_sweep.py``, small enough for the test suite; one Sweeper (join
tables built once) sweeps two file sets and gives the same answers as a fresh one.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

import aptcatch.hunt.ioc as ioc
from aptcatch.hunt.ioc import IndicatorSet, Sweeper, parse_ioc_lines, sweep
from aptcatch.hunt.readers import read_log

N_DOM, N_IP, N_CIDR, N_URL = 3000, 1000, 200, 800


def _ip(n: int) -> str:
    return f"{n >> 24 & 255}.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


CIDR_BASE = (172 << 24) | (16 << 16)


def _indicators() -> IndicatorSet:
    lines = [f"mal{i}.example" for i in range(N_DOM)]
    lines += [_ip((10 << 24) + i) for i in range(N_IP)]
    lines += [f"{_ip(CIDR_BASE + 16 * i)}/29" for i in range(N_CIDR)]
    lines += [f"http://url{i}.test/gate.php?id={i}" for i in range(N_URL)]
    lines += ["d41d8cd98f00b204e9800998ecf8427e"]
    s = IndicatorSet()
    parse_ioc_lines(lines, "gen", s)
    return s


def _generate(tmp: Path, rows: int, seed: int) -> tuple[list[Path], set[tuple[int, int, str, str]]]:
    rng = random.Random(seed)
    expected: set[tuple[int, int, str, str]] = set()
    squid, dns = [], []
    for r in range(rows):
        url, peer, method = f"http://h{rng.randrange(9999)}.benign.test/p", "192.0.2.1", "GET"
        d, c, u = rng.randrange(N_DOM), rng.randrange(N_CIDR), rng.randrange(N_URL)
        kind = r % 23
        if kind == 1:
            url = f"http://MAL{d}.example./x"
            expected.add((0, r, "domain", f"mal{d}.example"))
        elif kind == 2:
            method, url = "CONNECT", f"a.b.mal{d}.example:443"
            expected.add((0, r, "domain", f"mal{d}.example"))
        elif kind == 3:
            peer = _ip(CIDR_BASE + 16 * c + rng.randrange(8))
            expected.add((0, r, "cidr", f"{_ip(CIDR_BASE + 16 * c)}/29"))
        elif kind == 4:
            url = f"HTTP://URL{u}.test:80/gate.php?id={u}"
            expected.add((0, r, "url", f"http://url{u}.test/gate.php?id={u}"))
        elif kind == 5:
            url = f"http://notmal{d}.example/x"  # near-misses from here on
        elif kind == 6:
            url = f"http://mal{d}.example.test/x"
        elif kind == 7:
            peer = _ip(CIDR_BASE + 16 * c + 8)
        elif kind == 8:
            url = f"http://url{u}.test/gate.php?id={u}0"
        squid.append(
            f"{1_700_000_000 + r}.000 5 10.9.0.{r % 250} TCP_MISS/200 10 {method} {url} - HIER_DIRECT/{peer}"
        )
        query, resp = f"h{rng.randrange(9999)}.benign.test", "198.51.100.1"
        if kind == 9:
            query = f"x{r}.mal{d}.example"
            expected.add((1, r, "domain", f"mal{d}.example"))
        elif kind == 10:
            i = rng.randrange(N_IP)
            resp = _ip((10 << 24) + i)
            expected.add((1, r, "ipv4", resp))
        elif kind == 11:
            resp = _ip((10 << 24) + N_IP + 5)  # just past the indicator IPs
        dns.append(
            json.dumps(
                {
                    "ts": 1_700_000_000 + r / 10,
                    "id.orig_h": "10.9.0.1",
                    "id.orig_p": 5,
                    "query": query,
                    "id.resp_h": resp,
                    "id.resp_p": 53,
                }
            )
        )
    files = [tmp / "access.log", tmp / "dns.log"]
    files[0].write_text("\n".join(squid) + "\n", encoding="utf-8")
    files[1].write_text("\n".join(dns) + "\n", encoding="utf-8")
    return files, expected


def test_sweep_finds_exactly_the_planted_hits(tmp_path: Path) -> None:
    indicators = _indicators()
    sweeper = Sweeper(indicators)
    for seed, rows in ((1, 6000), (2, 3000)):
        folder = tmp_path / str(seed)
        folder.mkdir()
        files, expected = _generate(folder, rows, seed)
        results = [read_log(f) for f in files]
        assert [(r.format, r.rows, r.bad_lines) for r in results] == [
            ("squid", rows, 0),
            ("zeek-json", rows, 0),
        ]
        matches = sweeper.sweep(results)
        assert {(m.file_id, m.row_id, m.itype, m.value) for m in matches} == expected
        assert [(m.file_id, m.row_id, m.field) for m in matches] == sorted(
            (m.file_id, m.row_id, m.field) for m in matches
        )
        fresh = sweep(results, indicators)
        assert [(m.file_id, m.row_id, m.field, m.value) for m in fresh] == [
            (m.file_id, m.row_id, m.field, m.value) for m in matches
        ]
        # both names of a shared column report their own match (url.domain and destination.domain)
        fields = {m.field for m in matches if m.file_id == 0 and m.rule_id == "ioc.domain"}
        assert fields == {"url.domain", "destination.domain"}


def test_large_files_sweep_as_their_own_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files of SMALL_FILE rows or more are swept as one table each: the same matches as stacked."""
    indicators = _indicators()
    files, expected = _generate(tmp_path, 4000, 3)
    results = [read_log(f) for f in files]
    stacked = sweep(results, indicators)
    monkeypatch.setattr(ioc, "SMALL_FILE", 1)
    alone = sweep(results, indicators)
    assert {(m.file_id, m.row_id, m.itype, m.value) for m in alone} == expected
    assert [vars(m) for m in alone] == [vars(m) for m in stacked]
    fields = {m.field for m in alone if m.file_id == 0 and m.rule_id == "ioc.domain"}
    assert fields == {"url.domain", "destination.domain"}
