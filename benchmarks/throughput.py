"""Throughput and peak memory of `aptcatch scan` against oletools as analysts run it today.

    .venv/bin/python benchmarks/throughput.py [--repeat 1]

One run, one file list (oletools test data + Strelka fixtures + the live maldocs unpacked into a
private temporary folder that is removed afterwards + the bundled examples), four ways:

  (a) oletools command-line tools per file: olevba, rtfobj, msodde, mraptor (one process each);
  (b) the same four analyses as bare in-process oletools calls, one process;
  (c) aptcatch, one process (Scanner.scan_file per file);
  (d) aptcatch, 2 worker processes (what `aptcatch scan -j 2 DIR` does).

Each mode runs in its own fresh Python process that reports its wall time and peak RSS (for (d) the
largest of the parent and the workers). Ratios, not absolute times, are what to compare.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpora

BIN = Path(sys.executable).parent
CLI_TOOLS = ("olevba", "rtfobj", "msodde", "mraptor")


def _peak_mib(children: bool = False) -> float:
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024


def child_cli(files: list[str]) -> dict[str, float]:
    t0 = time.perf_counter()
    for f in files:
        for tool in CLI_TOOLS:
            subprocess.run(
                [str(BIN / tool), f], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
            )
    return {"seconds": time.perf_counter() - t0, "peak_mib": max(_peak_mib(), _peak_mib(True))}


def child_oletools(files: list[str]) -> dict[str, float]:
    import logging

    logging.disable(logging.CRITICAL)
    from oletools import msodde, rtfobj
    from oletools.mraptor import MacroRaptor
    from oletools.olevba import VBA_Parser

    msodde.logger.disabled = True  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    for f in files:
        try:
            vp = VBA_Parser(f)
            if vp.detect_vba_macros():
                vp.analyze_macros()
                code = "\n".join(c for (_, _, _, c) in vp.extract_macros())
                MacroRaptor(code).scan()
            vp.close()
        except Exception:
            pass
        with contextlib.suppress(Exception):
            rtfobj.RtfObjParser(Path(f).read_bytes()).parse()
        with contextlib.suppress(Exception):
            msodde.process_maybe_encrypted(f, field_filter_mode=msodde.FIELD_FILTER_BLACKLIST)
    return {"seconds": time.perf_counter() - t0, "peak_mib": _peak_mib()}


def child_aptcatch(files: list[str], jobs: int) -> dict[str, float]:
    from aptcatch.capture.engine import ScanConfig
    from aptcatch.capture.runner import scan_paths

    t0 = time.perf_counter()
    results = scan_paths([Path(f) for f in files], ScanConfig(), jobs=jobs)
    secs = time.perf_counter() - t0
    return {
        "seconds": secs,
        "peak_mib": max(_peak_mib(), _peak_mib(True)),
        "flagged": sum(1 for r in results if r.verdict != "clean"),
    }


def _run_child(mode: str, listfile: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--list", str(listfile)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child")
    ap.add_argument("--list", type=Path)
    ap.add_argument("--skip-cli", action="store_true", help="leave out mode (a), the slow one")
    args = ap.parse_args()
    if args.child:
        files = args.list.read_text().splitlines()
        mode = args.child
        res = (
            child_cli(files)
            if mode == "cli"
            else child_oletools(files)
            if mode == "oletools"
            else child_aptcatch(files, jobs=int(mode.split("-")[1]))
        )
        print(json.dumps(res))
        return
    with corpora.unpacked_maldocs() as mal, tempfile.TemporaryDirectory() as tmp:
        files = [*corpora.oletools_files(), *corpora.strelka(), *mal, *corpora.examples()]
        listfile = Path(tmp) / "files.txt"
        listfile.write_text("\n".join(str(f) for f in files))
        n = len(files)
        rows: dict[str, dict[str, float]] = {}
        for mode in ("oletools", "aptcatch-1", "aptcatch-2", *(() if args.skip_cli else ("cli",))):
            rows[mode] = _run_child(mode, listfile)
            r = rows[mode]
            print(
                f"{mode:11} {n} files {r['seconds']:7.2f} s  {1000 * r['seconds'] / n:7.1f} ms/file  "
                f"peak {r['peak_mib']:6.1f} MiB",
                flush=True,
            )
    base = rows["oletools"]["seconds"]
    print(f"aptcatch 1 process / bare oletools in-process: {rows['aptcatch-1']['seconds'] / base:.2f}x")
    if "cli" in rows:
        speedup = rows["cli"]["seconds"] / rows["aptcatch-2"]["seconds"]
        print(f"oletools CLI per file / aptcatch -j 2: {speedup:.1f}x")
    print(json.dumps({"files": n, **rows}))


if __name__ == "__main__":
    main()
