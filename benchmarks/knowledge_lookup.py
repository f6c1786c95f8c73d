"""Lookup latency and batch throughput on 1 million generated indicators.

    .venv/bin/python benchmarks/knowledge_lookup.py [--n 1000000] [--batch 10000]

Generates domains, IPv4 addresses, CIDR blocks and SHA-256 hashes (seeded, reproducible), loads them
into a temporary SQLite store, then measures:

* single lookups (exact, parent-domain, CIDR), median and p99 latency, twice: on the SQL path (what a
  one-off ``intel lookup`` on a store without a loaded index does) and with the in-memory match index;
* the one-time cost of building the match index and loading every indicator's claims (after opening a
  store or after an import): time, and the growth of the process's resident memory;
* batch lookups (``lookup_many``) of mixed values, half hits and half misses, as values/s, end to end
  (matching, claims, resolved targets, Hit objects), twice: hits drawn from all indicators (nearly every
  hit a different indicator: the worst case, built from scratch) and hits drawn from 20,000 "hot"
  indicators (hunting hits the same indicators over and over: built objects come from the cache).

``--distinct-claims`` gives every indicator its own claim (own comment, one of 5,000 references, a
first-seen date), like real feeds, instead of one claim shared by all.

Target: >= 200,000 lookups/s in batch.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import ipaddress
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from aptcatch.knowledge.models import IndicatorType
from aptcatch.knowledge.sqlite_store import SqliteStore


def generate(n: int, rng: random.Random) -> Iterator[tuple[IndicatorType, str]]:
    for i in range(n):
        k = i % 4
        if k == 0:
            yield "domain", f"h{i:x}.example{i % 977}.com"
        elif k == 1:
            yield (
                "ipv4",
                f"{rng.randint(11, 99)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            )
        elif k == 2:
            yield "sha256", hashlib.sha256(str(i).encode()).hexdigest()
        elif i % 400 == 3:
            plen = rng.choice((16, 20, 24, 28))
            base = rng.randint(100, 200) << 24 | rng.randint(0, 2**24 - 1)
            mask = (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF
            n_ = base & mask
            yield "cidr", f"{n_ >> 24}.{(n_ >> 16) & 255}.{(n_ >> 8) & 255}.{n_ & 255}/{plen}"
        else:
            yield "domain", f"w{i:x}.test{i % 331}.net"


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--batches", type=int, default=20, help="batches of mixed values to time")
    ap.add_argument("--distinct-claims", action="store_true", help="a different claim per indicator")
    args = ap.parse_args()
    rng = random.Random(42)
    rows = list(generate(args.n, rng))
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.sqlite")
        t0 = time.perf_counter()
        store.bulk_load_indicators(rows, "generated")
        if args.distinct_claims:
            store.db.execute(
                "UPDATE indicator_claims SET reference = 'report-' || (indicator_id % 5000),"
                " comment = 'line ' || indicator_id, first_seen = date('2015-01-01', (indicator_id % 3000)"
                " || ' days'), target_kind = 'group', target = 'G' || (indicator_id % 300)"
            )
        load = time.perf_counter() - t0
        doms = [v for t, v in rows if t == "domain"]
        ips = [v for t, v in rows if t == "ipv4"]
        hashes = [v for t, v in rows if t == "sha256"]
        cidrs = [v for t, v in rows if t == "cidr"]
        cidr_hosts = [str(ipaddress.ip_network(c)[1]) for c in cidrs]
        probes = {
            "exact": [rng.choice(hashes) for _ in range(2000)],
            "parent-domain": ["a.b." + rng.choice(doms) for _ in range(2000)],
            "cidr": [rng.choice(cidr_hosts) for _ in range(2000)],
        }
        print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
        print(
            f"loaded {store.counts()['indicators']:,} indicators in {load:.1f} s "
            f"({len(store.cidr_lengths())} CIDR prefix lengths)"
        )
        for path in ("sql", "index"):
            if path == "index":
                gc.collect()
                rss, t = _rss_mib(), time.perf_counter()
                index = store.match_index()
                took = time.perf_counter() - t
                gc.collect()
                print(
                    f"match index built in {took:.2f} s ({index.size:,} indicators, "
                    f"+{_rss_mib() - rss:,.0f} MiB resident)"
                )
            for kind, values in probes.items():
                lat = []
                for v in values:
                    t = time.perf_counter()
                    hits = store.lookup(v)
                    lat.append(time.perf_counter() - t)
                    assert hits, (kind, v)
                print(
                    f"single {path:5s} {kind:13s}: median {statistics.median(lat) * 1e6:7.1f} us, "
                    f"p99 {sorted(lat)[int(len(lat) * 0.99)] * 1e6:7.1f} us"
                )
        n_hit = args.batches * args.batch // 8
        misses = [f"miss{i}.nowhere{i % 50}.org" for i in range(n_hit * 2)] + [
            f"{rng.randint(1, 9)}.{rng.randint(0, 255)}.0.{rng.randint(1, 254)}" for _ in range(n_hit * 2)
        ]
        hits_mix = (
            [rng.choice(hashes) for _ in range(n_hit)]
            + [rng.choice(doms) for _ in range(n_hit)]
            + ["x." + rng.choice(doms) for _ in range(n_hit)]
            + [rng.choice(ips) for _ in range(n_hit)]
        )
        mixed = hits_mix + misses
        rng.shuffle(mixed)
        hot = rng.sample(hits_mix, 20_000)
        repeated = [rng.choice(hot) for _ in hits_mix] + misses
        rng.shuffle(repeated)
        for label, batch in (("distinct hits, worst case", mixed), ("repeated hits, 20,000 hot", repeated)):
            total, spent, found = 0, 0.0, 0
            for start in range(0, len(batch), args.batch):
                chunk = batch[start : start + args.batch]
                t = time.perf_counter()
                result = store.lookup_many(chunk)
                spent += time.perf_counter() - t
                total += len(chunk)
                found += sum(1 for hs in result.values() if hs)
            print(
                f"batch lookup_many {label} ({args.batch:,}/batch, {total:,} values, "
                f"{found / total:.0%} hits): {total / spent:,.0f} lookups/s"
            )
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
