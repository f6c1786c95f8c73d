"""Detection and false-positive rates of `aptcatch scan` on the real corpora.

    .venv/bin/python benchmarks/scan_corpora.py [--jobs 2] [--json results.json]

* maldocs-dev: 110 live malicious documents (each in a zip encrypted with "infected", scanned as is:
  the scanner opens the zip in memory). Detection = suspicious or malicious. Every miss is listed.
* benign-office (658 Apache POI files, 38 fuzzer-malformed) and strelka-fixtures (61 benign scanner
  fixtures, password-protected ones opened with the listed passwords): rates of malicious and of
  suspicious-or-malicious, crashes, and whether every malformed file got a per-artifact error.
* The score distribution of both sides, which the verdict thresholds are read from.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpora

from aptcatch.capture.engine import ScanConfig
from aptcatch.capture.runner import scan_paths
from aptcatch.model.scan import Artifact, ItemResult

FLAGGED = ("suspicious", "malicious")


def _walk(a: Artifact) -> list[Artifact]:
    out = [a]
    for c in a.children:
        out.extend(_walk(c))
    return out


def _errors(r: ItemResult) -> list[str]:
    return [f"{a.name}: {e.kind}: {e.message}" for a in _walk(r.artifact) for e in a.errors]


def _inner_types(r: ItemResult) -> str:
    return ",".join(sorted({a.type for a in _walk(r.artifact) if a.depth == 1})) or r.type


def _bucket(score: int) -> str:
    lo = min(score // 10 * 10, 90)
    return f"{lo:02d}-{lo + 9 if lo < 90 else 100}"


def run(jobs: int) -> dict[str, object]:
    out: dict[str, object] = {}
    # -- maldocs --------------------------------------------------------------------------------
    mal = corpora.maldocs()
    t0 = time.perf_counter()
    res = scan_paths([m.zip_path for m in mal], ScanConfig(), jobs=jobs)
    mal_time = time.perf_counter() - t0
    by_class: dict[str, Counter[str]] = {}
    misses = []
    for m, r in zip(mal, res, strict=True):
        c = by_class.setdefault(m.doc_class, Counter())
        c["total"] += 1
        c[r.verdict] += 1
        c["oletools"] += m.oletools_flagged
        if r.verdict not in FLAGGED:
            misses.append(
                {
                    "zip": str(m.zip_path.relative_to(corpora.MALDOCS)),
                    "class": m.doc_class,
                    "campaign": m.campaign,
                    "score": r.score,
                    "inner_type": _inner_types(r),
                    "findings": [f"{f.id} ({f.detail[:60]})" for f in r.findings][:6],
                    "errors": _errors(r)[:4],
                }
            )
    detected = sum(1 for r in res if r.verdict in FLAGGED)
    out["maldocs"] = {
        "total": len(mal),
        "detected": detected,
        "malicious": sum(1 for r in res if r.verdict == "malicious"),
        "rate": round(detected / len(mal), 4),
        "oletools_flagged": sum(m.oletools_flagged for m in mal),
        "aptcatch_flags_what_oletools_missed": sum(
            1 for m, r in zip(mal, res, strict=True) if not m.oletools_flagged and r.verdict in FLAGGED
        ),
        "by_class": {k: dict(v) for k, v in sorted(by_class.items())},
        "misses": misses,
        "seconds": round(mal_time, 2),
        "scores": dict(sorted(Counter(_bucket(r.score) for r in res).items())),
    }
    # -- benign ---------------------------------------------------------------------------------
    benign = corpora.benign_office()
    strelka = corpora.strelka()
    t0 = time.perf_counter()
    res_b = scan_paths([p for p, _ in benign], ScanConfig(), jobs=jobs)
    res_s = scan_paths(strelka, ScanConfig(passwords=tuple(corpora.strelka_passwords())), jobs=jobs)
    ben_time = time.perf_counter() - t0
    flagged = []
    for r in [*res_b, *res_s]:
        if r.verdict in FLAGGED:
            flagged.append(
                {
                    "path": str(Path(r.path).relative_to(corpora.SHARED)),
                    "verdict": r.verdict,
                    "score": r.score,
                    "reasons": list(r.reasons[:5]),
                    "details": [f"{f.id}: {f.detail[:80]}" for f in r.findings if f.weight >= 0.1][:5],
                }
            )
    malformed = [(p, r) for (p, note), r in zip(benign, res_b, strict=True) if note]
    malformed_without_error = [str(p.name) for p, r in malformed if not _errors(r) and not r.errors]
    crashes = [r.path for r in [*res_b, *res_s] if any("internal" in e or "died" in e for e in r.errors)]
    all_b = [*res_b, *res_s]
    out["benign"] = {
        "total": len(all_b),
        "benign_office": len(res_b),
        "strelka": len(res_s),
        "malicious": sum(1 for r in all_b if r.verdict == "malicious"),
        "suspicious_or_malicious": sum(1 for r in all_b if r.verdict in FLAGGED),
        "malicious_rate": round(sum(1 for r in all_b if r.verdict == "malicious") / len(all_b), 4),
        "flag_rate": round(sum(1 for r in all_b if r.verdict in FLAGGED) / len(all_b), 4),
        "flagged": flagged,
        "malformed": len(malformed),
        "malformed_without_error": malformed_without_error,
        "items_not_analysed": [r.path for r in all_b if r.errors],
        "crashes": crashes,
        "seconds": round(ben_time, 2),
        "scores": dict(sorted(Counter(_bucket(r.score) for r in all_b).items())),
        "strelka_containers": _strelka_containers(strelka, res_s),
    }
    return out


# fixtures made not to open: a RAR bomb (refused by the ratio limit), a 7z whose password is meant to be
# brute-forced (not in the listed passwords), an empty zip
NOT_MEANT_TO_OPEN = {"test_big.rar", "test_password_brute.7z", "test_empty.zip"}


def _strelka_containers(paths: list[Path], res: list[ItemResult]) -> dict[str, object]:
    """Every e-mail must be parsed (headers read, no parse error) and every archive opened (members
    extracted); members under a password not in the list are counted apart."""
    mail = {"eml", "msg"}
    archives = {"zip", "rar", "7z", "tar", "gzip", "bzip2", "xz", "iso", "cab"}
    rows = {}
    for p, r in zip(paths, res, strict=True):
        if r.type not in mail | archives:
            continue
        errors = _errors(r)
        if r.type in mail:
            opened = bool(r.lure.subject or r.lure.sender) and not any(": parse:" in e for e in errors)
        else:
            opened = bool(r.artifact.children)
        rows[p.name] = {
            "type": r.type,
            "children": len(r.artifact.children),
            "opened": opened,
            "members_left_encrypted": [e for e in errors if ": encrypted:" in e],
            "not_meant_to_open": p.name in NOT_MEANT_TO_OPEN,
        }
    expected = {k: v for k, v in rows.items() if not v["not_meant_to_open"]}
    return {
        "total": len(rows),
        "expected_to_open": len(expected),
        "opened": sum(1 for v in expected.values() if v["opened"]),
        "not_opened": {k: v for k, v in expected.items() if not v["opened"]},
        "members_left_encrypted": {
            k: v["members_left_encrypted"] for k, v in rows.items() if v["members_left_encrypted"]
        },
        "not_meant_to_open": sorted(NOT_MEANT_TO_OPEN & set(rows)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", type=Path, help="write the full results here")
    args = ap.parse_args()
    if not corpora.SHARED.is_dir():
        sys.exit(f"shared corpora not found at {corpora.SHARED}")
    out = run(args.jobs)
    m, b = out["maldocs"], out["benign"]
    assert isinstance(m, dict)
    assert isinstance(b, dict)
    print(
        f"maldocs: {m['detected']}/{m['total']} flagged ({m['rate']:.1%}), {m['malicious']} malicious; "
        f"plain oletools: {m['oletools_flagged']}; in {m['seconds']} s"
    )
    for cls, c in m["by_class"].items():
        print(f"  {cls:14} {c}")
    for miss in m["misses"]:
        head = f"  MISS {miss['zip']} [{miss['class']}] score {miss['score']}"
        print(head, miss["findings"], miss["errors"])
    print(
        f"benign: {b['malicious']}/{b['total']} malicious ({b['malicious_rate']:.2%}), "
        f"{b['suspicious_or_malicious']} flagged ({b['flag_rate']:.2%}); crashes {len(b['crashes'])}; "
        f"malformed {b['malformed']}, without error {len(b['malformed_without_error'])}; in {b['seconds']} s"
    )
    for f in b["flagged"]:
        print(f"  FLAG {f['path']} {f['verdict']} {f['score']} {f['details']}")
    print(f"strelka containers opened: {b['strelka_containers']}")
    print(f"score buckets maldocs {m['scores']}")
    print(f"score buckets benign  {b['scores']}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
