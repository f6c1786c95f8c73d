"""Build the offline knowledge snapshot from ../shared/data into src/aptcatch/knowledge/data/.

    python scripts/build_knowledge_snapshot.py [--data ../shared/data] [--out DIR] [--merges FILE]

Facts only: ids, names, aliases, relationships, sectors, countries, dates and source notes; no
descriptions. The licence notices of every source go into NOTICE beside the snapshot.

``--merges FILE`` also writes the alias resolver's merges past the one-entry-per-source guard (one a
line, sorted) — the list tests/knowledge/data/resolution_merges.txt holds and a corpus test checks.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from aptcatch.knowledge.feeds_catalog import import_staged
from aptcatch.knowledge.snapshot import write_snapshot
from aptcatch.knowledge.sqlite_store import SqliteStore

REPO = Path(__file__).resolve().parents[1]

NOTICE = """aptcatch knowledge snapshot — third-party notices
=================================================

The file knowledge-snapshot.json.gz holds facts (identifiers, names, aliases, relationships, sectors,
countries, dates and references) extracted from the sources below. No descriptions are included.

MITRE ATT&CK Enterprise v18.1 (mitre/cti)
-----------------------------------------
© 2025 The MITRE Corporation. This work is reproduced and distributed with the permission of The MITRE
Corporation.

MITRE grants a non-exclusive, royalty-free license to use ATT&CK® for research, development, and
commercial purposes. Any copy you make for such purposes is authorized provided that you reproduce
MITRE's copyright designation and this license in any such copy. ATT&CK is provided "AS IS", without
warranty of any kind; see https://attack.mitre.org/resources/legal-and-branding/terms-of-use/

MISP galaxy (MISP/misp-galaxy)
------------------------------
The MISP galaxy JSON files are dual-licensed under CC0 1.0 Universal (public domain dedication) or the
2-clause BSD licence:

 Copyright (c) 2015-2018 Alexandre Dulaunoy, CIRCL - Computer Incident Response Center Luxembourg,
 Andras Iklody, Raphael Vinot, Deborah Servili and various contributors to the MISP Project.

 Redistribution and use in source and binary forms, with or without modification, are permitted
 provided that the following conditions are met:
 1. Redistributions of source code must retain the above copyright notice, this list of conditions
    and the following disclaimer.
 2. Redistributions in binary form must reproduce the above copyright notice, this list of conditions
    and the following disclaimer in the documentation and/or other materials provided with the
    distribution.
 THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS" AND ANY EXPRESS OR
 IMPLIED WARRANTIES ARE DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE
 FOR ANY DAMAGES ARISING IN ANY WAY OUT OF THE USE OF THIS SOFTWARE.

Indicator feeds
---------------
* ESET malware-ioc (eset/malware-ioc): BSD 2-Clause licence, Copyright (c) ESET spol. s r.o.
  Redistributions must retain the copyright notice, the two conditions and the disclaimer above.
* Palo Alto Networks Unit 42 IOCs (pan-unit42/iocs): MIT licence, Copyright (c) Palo Alto Networks.
  The above copyright notice and this permission notice shall be included in all copies or substantial
  portions of the Software. THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND.
* Neo23x0/signature-base IOCs: Detection Rule License (DRL) 1.1, https://github.com/Neo23x0/signature-base
  — attribution to Florian Roth and the signature-base contributors is retained on every indicator
  (source "feed iocs/...") as the licence requires.
"""

MERGES_HEADER = """\
# Merges the alias resolver makes past the one-entry-per-source guard on ../shared/data
# (aptcatch.knowledge.resolve: "the source says so, and another source agrees" / "ATT&CK names it").
# Written by: python scripts/build_knowledge_snapshot.py --out DIR --merges FILE
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=REPO / "src" / "aptcatch" / "knowledge" / "data")
    ap.add_argument("--merges", type=Path, help="also write the resolver's guard-passing merges here")
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        print(f"no data at {args.data}", file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "kb.sqlite")
        report = import_staged(store, args.data, log=lambda m: print(m, file=sys.stderr))
        stats = write_snapshot(store, args.out / "knowledge-snapshot.json.gz")
        if args.merges:
            merged = sorted(t for k, t in store.resolution_notes() if k == "merged")
            args.merges.write_text(MERGES_HEADER + "".join(t + "\n" for t in merged), encoding="utf-8")
        store.close()
    (args.out / "NOTICE").write_text(NOTICE, encoding="utf-8")
    print(
        f"snapshot: {stats['entries']} entries, {stats['indicators']} indicators, {stats['bytes']:,} bytes, "
        f"{len(report.skipped)} files skipped, {time.perf_counter() - t0:.1f} s -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
