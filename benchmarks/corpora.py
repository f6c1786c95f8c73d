"""Where the benchmark corpora live and how they are listed (shared by the benchmark scripts).

The live maldocs stay in their encrypted zips: the scanner opens them itself (password ``infected`` is
in its default list). Only the oletools baseline needs them as plain files; it gets a private temporary
folder that is removed when it finishes.
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("APTCATCH_SHARED_DATA", REPO.parent / "shared" / "data"))
MALDOCS = SHARED / "maldocs-dev"
BENIGN_OFFICE = SHARED / "benign-office"
STRELKA = SHARED / "strelka-fixtures"
OLETOOLS = SHARED / "oletools-testdata" / "tests" / "test-data"
EXAMPLES = REPO / "examples"


@dataclass(frozen=True)
class Maldoc:
    zip_path: Path
    sha256: str
    doc_class: str
    campaign: str
    oletools_flagged: bool
    oletools_reasons: str


def maldocs() -> list[Maldoc]:
    out = []
    with (MALDOCS / "MANIFEST.tsv").open(newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            out.append(
                Maldoc(
                    zip_path=MALDOCS / row["zip"],
                    sha256=row["sha256"],
                    doc_class=row["doc_class"],
                    campaign=row["campaign"],
                    oletools_flagged=row["oletools_flagged"] == "True",
                    oletools_reasons=row["oletools_reasons"],
                )
            )
    return out


def benign_office() -> list[tuple[Path, str]]:
    """(path, note) for every benign Office file; note is non-empty for fuzzer-malformed files."""
    out = []
    with (BENIGN_OFFICE / "MANIFEST.tsv").open(newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            out.append((BENIGN_OFFICE / row["file"], row.get("note") or ""))
    return out


def strelka() -> list[Path]:
    skip = {"LICENSE", "test_passwords.dat", "test_passwords_alternate.dat"}
    return sorted(p for p in STRELKA.iterdir() if p.is_file() and p.name not in skip)


def strelka_passwords() -> list[str]:
    out: list[str] = []
    for name in ("test_passwords.dat", "test_passwords_alternate.dat"):
        p = STRELKA / name
        if p.exists():
            out.extend(line.strip() for line in p.read_text(errors="replace").splitlines() if line.strip())
    return out


def oletools_files() -> list[Path]:
    return sorted(p for p in OLETOOLS.rglob("*") if p.is_file())


def examples() -> list[Path]:
    return sorted(p for p in EXAMPLES.iterdir() if p.is_file() and p.name != "README.md")


@contextmanager
def unpacked_maldocs() -> Iterator[list[Path]]:
    """The live maldocs as plain files in a private temporary folder, removed on exit.

    Only for running third-party baseline tools that read paths. Member names are not used as paths:
    each document is written as ``<sha256>.bin`` inside a 0700 folder.
    """
    tmp = Path(tempfile.mkdtemp(prefix="aptcatch-bench-"))
    os.chmod(tmp, 0o700)
    try:
        paths = []
        for m in maldocs():
            with zipfile.ZipFile(m.zip_path) as zf:
                info = zf.infolist()[0]
                data = zf.read(info, pwd=b"infected")
            p = tmp / f"{m.sha256}.bin"
            p.write_bytes(data)
            paths.append(p)
        yield paths
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
