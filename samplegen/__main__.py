"""``python -m samplegen OUTDIR``: write every harmless example into OUTDIR (and example logs into
OUTDIR/logs for ``aptcatch hunt``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from samplegen.build import build_all
from samplegen.logs import write_logs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m samplegen", description=__doc__)
    parser.add_argument("outdir", type=Path, help="directory to write the examples into")
    args = parser.parse_args(argv)
    for path in [*build_all(args.outdir), *write_logs(args.outdir / "logs")]:
        print(f"{path.stat().st_size:8d}  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
