"""Lookup latency and batch throughput on 1 million generated indicators.

    .venv/bin/python benchmarks/knowledge_lookup.py [--n 1000000] [--batch 10000]

Generates domains, IPv4 addresses, CIDR blocks and SHA-256 hashes (seeded, reproducible), loads them
into a temporary SQLite store, then measures: single lookups (exact, parent-domain, CIDR) as median
latency, and batch lookups (lookup_many) of mixed values, half hits and half misses, as values/s.
Target: >= 200,000 lookups/s in batch.
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=10_000)
    args = ap.parse_args()
    rng = random.Random(42)
    rows = list(generate(args.n, rng))
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.sqlite")
        t0 = time.perf_counter()
        store.bulk_load_indicators(rows, "generated")
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
        for kind, values in probes.items():
            lat = []
            for v in values:
                t = time.perf_counter()
                hits = store.lookup(v)
                lat.append(time.perf_counter() - t)
                assert hits, (kind, v)
            print(
                f"single {kind:13s}: median {statistics.median(lat) * 1e6:7.1f} us, "
                f"p99 {sorted(lat)[int(len(lat) * 0.99)] * 1e6:7.1f} us"
            )
        misses = [f"miss{i}.nowhere{i % 50}.org" for i in range(args.batch)] + [
            f"{rng.randint(1, 9)}.{rng.randint(0, 255)}.0.{rng.randint(1, 254)}" for i in range(args.batch)
        ]
        hits_mix = (
            [rng.choice(hashes) for _ in range(args.batch // 2)]
            + [rng.choice(doms) for _ in range(args.batch // 2)]
            + ["x." + rng.choice(doms) for _ in range(args.batch // 2)]
            + [rng.choice(ips) for _ in range(args.batch // 2)]
        )
        mixed = hits_mix + misses
        rng.shuffle(mixed)
        total, spent = 0, 0.0
        for start in range(0, len(mixed), args.batch):
            chunk = mixed[start : start + args.batch]
            t = time.perf_counter()
            store.lookup_many(chunk)
            spent += time.perf_counter() - t
            total += len(chunk)
        print(
            f"batch lookup_many ({args.batch:,}/batch, {total:,} mixed values, ~50% hits): "
            f"{total / spent:,.0f} lookups/s"
        )
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
