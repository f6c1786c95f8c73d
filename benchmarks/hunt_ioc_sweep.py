"""IOC sweep at scale (issue 5, "Measured" item 3): generated proxy + DNS logs against 1 M indicators.

    .venv/bin/python benchmarks/hunt_ioc_sweep.py [--rows 1000000] [--indicators 1000000] [--seed 5]

Everything is generated (deterministic seed) into a private temporary folder that is removed at the end;
all hosts are reserved names (``*.example``, ``*.test``) and TEST-NET / private addresses:

* an ad-hoc IOC file of ``--indicators`` values: domains, IPv4s, CIDR blocks (/29), URLs, MD5, SHA-256;
* a Squid native access log and a Zeek DNS log (JSON lines), ``--rows`` rows in all (half each), with a
  known set of planted hits (exact domains, subdomains of indicator domains, trailing dot / upper case,
  IPs equal to an indicator or inside a CIDR, exact URLs) and near-misses that must NOT match
  (``notmal7.example`` vs ``mal7.example``, ``mal7.example.test``, the /29 next to an indicator block,
  a URL with one more character).

Timed in one process, same files:

  (a) aptcatch: ``parse_ioc_lines`` (indicator load), the readers (``read_log``), ``sweep``;
  (b) DuckDB's bare scan: ``SELECT count(*)`` over ``read_csv`` (Squid) and ``read_json_auto`` (Zeek);
  (c) ``grep -F -c -f iocs.txt`` on the same files (LC_ALL=C; substring matching, so its count includes
      the near-misses and cannot see CIDRs: a speed reference, not a correctness one);
  (d) after (a), each file's read alone against DuckDB's bare scan of that file, and the Squid file
      read once more by the SQL reader alone (``APTCATCH_NO_C=1``: what the C cut of the native layout
      replaces).

Each time is also given as CPU seconds of this process (all its threads): the machine is shared, and a
job on the other core stretches wall times but hardly the CPU time. ``--repeat N`` times the DuckDB
parts N times and keeps the fastest.

Correctness: the set of (file, row, indicator type, indicator value) matched by the sweep must equal the
planted set exactly — recall 100 % and no hit outside it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

CIDR_SLOT = 16  # indicator /29 blocks sit on every other /29 of 172.16.0.0/12; the next one is a near-miss


def _ip(n: int) -> str:
    return f"{n >> 24 & 255}.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


IP_BASE = 10 << 24  # 10.0.0.0
CIDR_BASE = (172 << 24) | (16 << 16)  # 172.16.0.0
NEAR_IP_BASE = (10 << 24) | (200 << 16)  # 10.200.0.0, far from the indicator IPs


class Indicators:
    """How many of each kind; value i of a kind is a pure function of i."""

    def __init__(self, total: int) -> None:
        self.n_domain = total * 45 // 100
        self.n_ipv4 = total * 20 // 100
        self.n_cidr = total * 5 // 100
        self.n_url = total * 15 // 100
        self.n_md5 = total * 75 // 1000
        self.n_sha256 = total - self.n_domain - self.n_ipv4 - self.n_cidr - self.n_url - self.n_md5
        assert self.n_cidr * CIDR_SLOT < 1 << 20, "CIDR blocks must fit in 172.16.0.0/12"

    @staticmethod
    def domain(i: int) -> str:
        return f"mal{i}.example"

    @staticmethod
    def ipv4(i: int) -> str:
        return _ip(IP_BASE + i)

    @staticmethod
    def cidr(i: int) -> str:
        return f"{_ip(CIDR_BASE + CIDR_SLOT * i)}/29"

    @staticmethod
    def url(i: int) -> str:
        return f"http://url{i}.test/gate.php?id={i}"

    def write(self, path: Path) -> int:
        n = 0
        with path.open("w", encoding="utf-8") as fh:
            for i in range(self.n_domain):
                fh.write(self.domain(i) + "\n")
            for i in range(self.n_ipv4):
                fh.write(self.ipv4(i) + "\n")
            for i in range(self.n_cidr):
                fh.write(self.cidr(i) + "\n")
            for i in range(self.n_url):
                fh.write(self.url(i) + "\n")
            for i in range(self.n_md5):
                fh.write(hashlib.md5(f"md5-{i}".encode()).hexdigest() + "\n")
            for i in range(self.n_sha256):
                fh.write(hashlib.sha256(f"sha-{i}".encode()).hexdigest() + "\n")
            n = self.n_domain + self.n_ipv4 + self.n_cidr + self.n_url + self.n_md5 + self.n_sha256
        return n


Expected = set[tuple[int, int, str, str]]  # (file_id, row_id, indicator type, indicator value)


def _noise_domain(rng: random.Random) -> str:
    return f"h{rng.randrange(50000)}.benign{rng.randrange(997)}.test"


def _noise_ip(rng: random.Random) -> str:
    return f"{rng.choice(('192.0.2', '198.51.100', '203.0.113'))}.{rng.randrange(1, 255)}"


def _client(rng: random.Random) -> str:
    return f"192.168.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def gen_squid(
    path: Path, rows: int, ind: Indicators, rng: random.Random, file_id: int, every: int, expected: Expected
) -> dict[str, int]:
    kinds = (
        "domain",
        "subdomain",
        "ipv4",
        "cidr",
        "url",
        "near_domain",
        "near_suffix",
        "near_cidr",
        "near_url",
        "near_ip",
    )
    planted = dict.fromkeys(kinds, 0)
    ts = 1_700_000_000.0
    with path.open("w", encoding="utf-8") as fh:
        for r in range(rows):
            ts += 0.013
            method, peer = "GET", _noise_ip(rng)
            url = f"http://{_noise_domain(rng)}/p/{rng.randrange(10**6)}"
            if r % every == every // 2:
                kind = kinds[(r // every) % len(kinds)]
                planted[kind] += 1
                d, c, u = rng.randrange(ind.n_domain), rng.randrange(ind.n_cidr), rng.randrange(ind.n_url)
                if kind == "domain":
                    url = f"http://{ind.domain(d)}/index.php"
                    expected.add((file_id, r, "domain", ind.domain(d)))
                elif kind == "subdomain":
                    method, url = "CONNECT", f"cdn.x{r}.{ind.domain(d).upper()}:443"
                    expected.add((file_id, r, "domain", ind.domain(d)))
                elif kind == "ipv4":
                    i = rng.randrange(ind.n_ipv4)
                    peer = ind.ipv4(i)
                    expected.add((file_id, r, "ipv4", ind.ipv4(i)))
                elif kind == "cidr":
                    peer = _ip(CIDR_BASE + CIDR_SLOT * c + rng.randrange(8))
                    expected.add((file_id, r, "cidr", ind.cidr(c)))
                elif kind == "url":
                    url = ind.url(u)
                    expected.add((file_id, r, "url", ind.url(u)))
                elif kind == "near_domain":
                    url = f"http://not{ind.domain(d)}/index.php"
                elif kind == "near_suffix":
                    url = f"http://{ind.domain(d)}.test/index.php"
                elif kind == "near_cidr":
                    peer = _ip(CIDR_BASE + CIDR_SLOT * c + 8 + rng.randrange(8))
                elif kind == "near_url":
                    url = ind.url(u) + "0"
                else:
                    peer = _ip(NEAR_IP_BASE + rng.randrange(1 << 16))
            hier = f"HIER_DIRECT/{peer}"
            fh.write(
                f"{ts:.3f} {rng.randrange(1, 900)} {_client(rng)} TCP_MISS/200 {rng.randrange(100, 9000)}"
                f" {method} {url} - {hier} text/html\n"
            )
    return planted


def gen_zeek_dns(
    path: Path, rows: int, ind: Indicators, rng: random.Random, file_id: int, every: int, expected: Expected
) -> dict[str, int]:
    kinds = (
        "domain",
        "subdomain",
        "trailing_dot",
        "ipv4",
        "cidr",
        "near_domain",
        "near_suffix",
        "near_cidr",
        "near_ip",
    )
    planted = dict.fromkeys(kinds, 0)
    ts = 1_700_000_000.0
    with path.open("w", encoding="utf-8") as fh:
        for r in range(rows):
            ts += 0.011
            query, resp = _noise_domain(rng), _noise_ip(rng)
            if r % every == every // 3:
                kind = kinds[(r // every) % len(kinds)]
                planted[kind] += 1
                d, c = rng.randrange(ind.n_domain), rng.randrange(ind.n_cidr)
                if kind == "domain":
                    query = ind.domain(d)
                    expected.add((file_id, r, "domain", ind.domain(d)))
                elif kind == "subdomain":
                    query = f"a{r}.b.{ind.domain(d)}"
                    expected.add((file_id, r, "domain", ind.domain(d)))
                elif kind == "trailing_dot":
                    query = ind.domain(d).upper() + "."
                    expected.add((file_id, r, "domain", ind.domain(d)))
                elif kind == "ipv4":
                    i = rng.randrange(ind.n_ipv4)
                    resp = ind.ipv4(i)
                    expected.add((file_id, r, "ipv4", ind.ipv4(i)))
                elif kind == "cidr":
                    resp = _ip(CIDR_BASE + CIDR_SLOT * c + rng.randrange(8))
                    expected.add((file_id, r, "cidr", ind.cidr(c)))
                elif kind == "near_domain":
                    query = f"not{ind.domain(d)}"
                elif kind == "near_suffix":
                    query = f"{ind.domain(d)}.test"
                elif kind == "near_cidr":
                    resp = _ip(CIDR_BASE + CIDR_SLOT * c + 8 + rng.randrange(8))
                else:
                    resp = _ip(NEAR_IP_BASE + rng.randrange(1 << 16))
            rec = {
                "ts": round(ts, 6),
                "uid": f"C{r:012x}",
                "id.orig_h": _client(rng),
                "id.orig_p": rng.randrange(1024, 65535),
                "id.resp_h": resp,
                "id.resp_p": 53,
                "proto": "udp",
                "trans_id": rng.randrange(65536),
                "query": query,
                "qclass": 1,
                "qclass_name": "C_INTERNET",
                "qtype": 1,
                "qtype_name": "A",
                "rcode": 0,
                "rcode_name": "NOERROR",
                "AA": False,
                "TC": False,
                "RD": True,
                "RA": True,
                "Z": 0,
                "answers": [_noise_ip(rng)],
                "TTLs": [300.0],
                "rejected": False,
            }
            fh.write(json.dumps(rec, separators=(",", ":")) + "\n")
    return planted


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mib() -> float:
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class Clock:
    """Wall and process CPU seconds of a block."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def best(clocks: Iterable[Clock]) -> Clock:
    """The fastest of repeated runs (wall and CPU each at their minimum): a job on the other core only
    ever adds time."""
    runs = list(clocks)
    out = Clock()
    out.wall, out.cpu = min(c.wall for c in runs), min(c.cpu for c in runs)
    return out


def bare_scans(squid: Path, dns: Path) -> dict[str, float]:
    """DuckDB reading every byte of the same files: as lines, and parsed into the formats' columns.

    The parsed scan is the reference: Squid through ``read_csv`` (space-delimited, all columns VARCHAR),
    the Zeek JSON through ``read_json_auto`` (all 23 fields), each with a predicate on every column so
    no column is skipped by projection pushdown.
    """
    import duckdb

    con = duckdb.connect()
    out: dict[str, float] = {}
    with Clock() as lines:
        for f in (squid, dns):
            con.execute(
                f"SELECT count(*) FROM read_csv('{f}', columns={{'line': 'VARCHAR'}}, delim='\x01\x02',"
                " quote='', escape='', header=false, auto_detect=false) WHERE strlen(line) > 0"
            ).fetchone()
    out["duckdb_lines"], out["duckdb_lines_cpu"] = lines.wall, lines.cpu
    with Clock() as bare_squid:
        cols = con.execute(
            f"DESCRIBE SELECT * FROM read_csv('{squid}', delim=' ', header=false, all_varchar=true)"
        ).fetchall()
        pred = " + ".join(f'strlen("{c[0]}")' for c in cols)
        con.execute(
            f"SELECT count(*) FROM read_csv('{squid}', delim=' ', header=false, all_varchar=true)"
            f" WHERE {pred} > 0"
        ).fetchone()
    with Clock() as bare_dns:
        cols = con.execute(f"DESCRIBE SELECT * FROM read_json_auto('{dns}')").fetchall()
        pred = " OR ".join(f'"{c[0]}" IS NOT NULL' for c in cols)
        con.execute(f"SELECT count(*) FROM read_json_auto('{dns}') WHERE {pred}").fetchone()
    out["duckdb_bare"] = bare_squid.wall + bare_dns.wall
    out["duckdb_bare_cpu"] = bare_squid.cpu + bare_dns.cpu
    out["duckdb_bare_squid"], out["duckdb_bare_dns"] = bare_squid.wall, bare_dns.wall
    con.close()
    return out


def read_alone(path: Path, sql_only: bool = False) -> Clock:
    """One file read by ``read_log`` (``sql_only``: with the C accelerators switched off)."""
    from aptcatch.hunt.readers import read_log

    before = os.environ.get("APTCATCH_NO_C")
    if sql_only:
        os.environ["APTCATCH_NO_C"] = "1"
    try:
        with Clock() as clock:
            result = read_log(path)
        del result
    finally:
        if before is None:
            os.environ.pop("APTCATCH_NO_C", None)
        else:
            os.environ["APTCATCH_NO_C"] = before
    return clock


def grep_time(iocs: Path, files: list[Path]) -> tuple[float, list[int]]:
    env = dict(os.environ, LC_ALL="C")
    t0 = time.perf_counter()
    counts = []
    for f in files:
        p = subprocess.run(
            ["grep", "-F", "-c", "-f", str(iocs), str(f)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        counts.append(int(p.stdout.strip() or 0))
    return time.perf_counter() - t0, counts


def run_size(
    rows: int, ind: Indicators, iocs: Path, sweeper: Any, args: argparse.Namespace
) -> dict[str, Any]:
    from aptcatch.hunt.readers import read_log

    rng = random.Random(args.seed + rows)
    tmp = Path(tempfile.mkdtemp(prefix="aptcatch-ioc-bench-"))
    res: dict[str, Any] = {"rows": rows}
    try:
        squid, dns = tmp / "squid_access.log", tmp / "zeek_dns.log"
        t0 = time.perf_counter()
        expected: Expected = set()
        n_squid = rows // 2
        planted_s = gen_squid(squid, n_squid, ind, rng, 0, args.every, expected)
        planted_d = gen_zeek_dns(dns, rows - n_squid, ind, rng, 1, args.every, expected)
        size_mib = (squid.stat().st_size + dns.stat().st_size) / 2**20
        print(
            f"\n== {rows:,} rows: generated in {time.perf_counter() - t0:.1f} s ({n_squid:,} Squid +"
            f" {rows - n_squid:,} Zeek DNS, {size_mib:,.0f} MiB); planted squid {planted_s}, dns {planted_d};"
            f" expected hits {len(expected):,}"
        )
        files = [squid, dns]
        runs = [bare_scans(squid, dns) for _ in range(args.repeat)]
        scans = {k: min(r[k] for r in runs) for k in runs[0]}
        print(
            f"(b) duckdb lines scan {scans['duckdb_lines']:.2f} s,"
            f" parsed bare scan {scans['duckdb_bare']:.2f} s"
        )
        t_grep, grep_counts = (None, None) if args.no_grep else grep_time(iocs, files)
        if t_grep is not None:
            print(
                f"(c) grep -F -c -f iocs.txt: {t_grep:.2f} s,"
                f" matching lines {grep_counts} (substring matches)"
            )

        rss0 = _rss_mib()
        reads, sweeps, peak = [], [], 0.0
        for n in range(args.repeat):
            results = []  # the previous read's tables go before the next is timed
            with Clock() as clock:
                results = [read_log(f) for f in files]
            reads.append(clock)
            with Clock() as clock:
                matches = sweeper.sweep(results)
            sweeps.append(clock)
            if n == 0:  # later rounds reuse memory the allocator kept: the first one is the cost
                peak = _peak_mib()
        read, swept = best(reads), best(sweeps)
        print(f"(a) read: {read.wall:.2f} s {[(r.format, r.rows, r.bad_lines) for r in results]}")
        print(f"    sweep: {swept.wall:.2f} s, {len(matches):,} (row, field, indicator) matches")
        t0 = time.perf_counter()
        wanted = sorted({m.row_id for m in matches if m.file_id == 1})[:1000]
        originals = results[1].original(wanted)
        t_orig = time.perf_counter() - t0
        assert all(o and o.startswith("{") for o in originals)

        got = {(m.file_id, m.row_id, m.itype, m.value) for m in matches}
        missed, extra = expected - got, got - expected
        recall = 1 - len(missed) / len(expected) if expected else 1.0
        print(
            f"correctness: expected {len(expected):,}, found {len(got & expected):,}, recall {recall:.2%},"
            f" missed {len(missed)}, hits outside the planted set {len(extra)}"
        )
        for x in sorted(missed)[:5]:
            print("  missed", x)
        for x in sorted(extra)[:5]:
            print("  extra", x)

        # after (a): the peak memory recorded there is the read's and the sweep's alone
        alone = {
            "squid": best(read_alone(squid) for _ in range(args.repeat)),
            "dns": best(read_alone(dns) for _ in range(args.repeat)),
            "squid_sql": best(read_alone(squid, sql_only=True) for _ in range(args.repeat)),
        }
        bs, bd = scans["duckdb_bare_squid"], scans["duckdb_bare_dns"]
        print(
            f"(d) each file read alone (x its own bare scan): Squid {alone['squid'].wall:.2f} s"
            f" ({alone['squid'].wall / bs:.2f}x of {bs:.2f} s; the SQL reader alone"
            f" {alone['squid_sql'].wall:.2f} s, {alone['squid_sql'].wall / bs:.2f}x),"
            f" Zeek DNS {alone['dns'].wall:.2f} s ({alone['dns'].wall / bd:.2f}x of {bd:.2f} s)"
        )
        t_apt, c_apt = read.wall + swept.wall, read.cpu + swept.cpu
        bare, bare_cpu = scans["duckdb_bare"], scans["duckdb_bare_cpu"]
        print(f"{'mode':44} {'seconds':>8} {'cpu s':>7} {'rows/s':>12} {'x bare':>7} {'x bare cpu':>10}")
        for name, t, c in (
            ("duckdb lines scan (every byte, no parsing)", scans["duckdb_lines"], scans["duckdb_lines_cpu"]),
            ("duckdb bare scan (parsed, every column)", bare, bare_cpu),
            ("grep -F -c -f iocs.txt", t_grep, None),
            ("aptcatch read", read.wall, read.cpu),
            ("aptcatch sweep", swept.wall, swept.cpu),
            ("aptcatch read + sweep", t_apt, c_apt),
        ):
            if t is not None:
                cpu = f"{c:7.2f}" if c is not None else f"{'':7}"
                ratio_cpu = f"{c / bare_cpu:10.2f}" if c is not None else ""
                print(f"{name:44} {t:8.2f} {cpu} {rows / t:12,.0f} {t / bare:7.2f} {ratio_cpu}")
        print(
            f"originals of {len(wanted)} alerted rows read back: {t_orig:.2f} s; peak RSS {peak:,.0f} MiB"
            f" (read + sweep added {peak - rss0:,.0f} MiB ="
            f" {(peak - rss0) / (rows / 1e6):,.0f} MiB per M rows);"
            f" target within 2x of the bare scan: {'met' if t_apt <= 2 * bare else 'NOT met'}"
            f" ({t_apt / bare:.2f}x)"
        )
        res.update(
            size_mib=size_mib,
            expected=len(expected),
            missed=len(missed),
            extra=len(extra),
            recall=recall,
            matches=len(matches),
            seconds={
                **{k: v for k, v in scans.items() if not k.endswith("_cpu")},
                "grep": t_grep,
                **{f"read_alone_{k}": v.wall for k, v in alone.items()},
                "read": read.wall,
                "sweep": swept.wall,
                "read_sweep": t_apt,
            },
            cpu_seconds={
                "duckdb_lines": scans["duckdb_lines_cpu"],
                "duckdb_bare": bare_cpu,
                **{f"read_alone_{k}": v.cpu for k, v in alone.items()},
                "read": read.cpu,
                "sweep": swept.cpu,
                "read_sweep": c_apt,
            },
            rows_per_s=rows / t_apt,
            ratio_to_bare=t_apt / bare,
            ratio_to_bare_cpu=c_apt / bare_cpu,
            squid_read_ratio_to_bare=alone["squid"].wall / scans["duckdb_bare_squid"],
            squid_sql_read_ratio_to_bare=alone["squid_sql"].wall / scans["duckdb_bare_squid"],
            dns_read_ratio_to_bare=alone["dns"].wall / scans["duckdb_bare_dns"],
            ratio_to_lines=t_apt / scans["duckdb_lines"],
            grep_counts=grep_counts,
            peak_rss_mib=peak,
            rss_added_mib_per_m_rows=(peak - rss0) / (rows / 1e6),
            originals_seconds=t_orig,
        )
        del results
        return res
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000], help="log rows per size")
    ap.add_argument("--indicators", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--every", type=int, default=200, help="one planted hit or near-miss every N rows")
    ap.add_argument("--no-grep", action="store_true", help="skip the grep -F -f reference")
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="time bare scans, reads and sweep N times, keep the fastest",
    )
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()

    from aptcatch.hunt.ioc import IndicatorSet, Sweeper, parse_ioc_lines

    print("command:", " ".join([Path(sys.executable).name, *sys.argv]))
    tmp = Path(tempfile.mkdtemp(prefix="aptcatch-ioc-bench-"))
    out: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "indicators": args.indicators, "sizes": []}
    try:
        ind = Indicators(args.indicators)
        iocs = tmp / "iocs.txt"
        n_ind = ind.write(iocs)
        t0 = time.perf_counter()
        iset = IndicatorSet()
        with iocs.open(encoding="utf-8") as fh:
            parse_ioc_lines(fh, str(iocs), iset)
        t_parse = time.perf_counter() - t0
        t0 = time.perf_counter()
        sweeper = Sweeper(iset)
        t_build = time.perf_counter() - t0
        print(
            f"indicators: {n_ind:,} written, {len(iset):,} parsed in {t_parse:.2f} s (rejected"
            f" {len(iset.rejected)}), join tables built once in {t_build:.2f} s"
        )
        out.update(indicator_parse_seconds=t_parse, indicator_tables_seconds=t_build)
        ok = True
        for rows in args.rows:
            res = run_size(rows, ind, iocs, sweeper, args)
            out["sizes"].append(res)
            ok = ok and res["missed"] == 0 and res["extra"] == 0
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
        return 0 if ok else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
