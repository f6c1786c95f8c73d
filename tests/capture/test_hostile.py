"""Hostile input: bombs, truncation, garbage and oversized files give per-artifact errors, never a crash,
within a stated memory bound."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aptcatch.capture.engine import ScanConfig, Scanner
from aptcatch.capture.limits import Limits
from aptcatch.model.scan import Artifact
from tests.memory import CHILD_PEAK_MIB

hostile = pytest.importorskip("samplegen.hostile")
build = pytest.importorskip("samplegen.build")

MEMORY_BOUND_MIB = 600


def walk(a: Artifact) -> list[Artifact]:
    out = [a]
    for c in a.children:
        out.extend(walk(c))
    return out


def errors(a: Artifact) -> list[str]:
    return [f"{e.kind}: {e.message}" for n in walk(a) for e in n.errors]


def test_zip_bomb_trips_a_limit_in_bounded_memory(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    bomb.write_bytes(hostile.zip_bomb(1 << 30))
    code = (
        "import json,sys\n"
        "from aptcatch.capture.engine import Scanner\n"
        "r = Scanner().scan_file(sys.argv[1])\n"
        f"print(json.dumps({{'rss': {CHILD_PEAK_MIB},"
        " 'errors': [e.kind for e in r.artifact.errors]"
        " + [e.kind for c in r.artifact.children for e in c.errors]}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(bomb)], capture_output=True, text=True, check=True, timeout=120
    )
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert "limit" in res["errors"]
    assert res["rss"] < MEMORY_BOUND_MIB


def test_nested_archive_bomb_finishes() -> None:
    data = hostile.nested_zip_bomb(depth=8, fanout=16, leaf_size=1 << 16)
    r = Scanner(ScanConfig(limits=Limits(max_artifacts=300))).scan_bytes(data, name="nested.zip")
    assert len(walk(r.artifact)) <= 300
    assert r.duration_ms < 60_000


@pytest.mark.parametrize("frac", [0.1, 0.5, 0.9])
def test_truncated_examples_do_not_crash(frac: float, scanner: Scanner) -> None:
    for name in (
        "wuhan-travel-form.eml",
        "equation-editor.rtf",
        "remote-template.docx",
        "invoice.zip",
        "openaction-js.pdf",
        "equation-object.bin",
        "dde-field.docx",
    ):
        data = hostile.truncated(build.build_bytes(name), frac)
        r = scanner.scan_bytes(data, name=name)
        assert r.verdict in ("clean", "suspicious", "malicious")
        assert not r.errors  # item-level: it was analysed; problems are on artifacts


def test_garbage_with_document_magic(scanner: Scanner) -> None:
    for magic in (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        b"PK\x03\x04",
        b"{\\rtf1",
        b"%PDF-1.5",
        b"Rar!\x1a\x07\x00",
        b"7z\xbc\xaf\x27\x1c",
        b"ITSF",
        b"L\x00\x00\x00\x01\x14\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00F",
    ):
        r = scanner.scan_bytes(magic + hostile.garbage(5000, seed=len(magic)), name="junk")
        assert r.verdict in ("clean", "suspicious", "malicious")


def test_file_over_the_size_limit(tmp_path: Path) -> None:
    big = hostile.oversized_file(tmp_path / "huge.doc", 64 << 20)
    r = Scanner(ScanConfig(limits=Limits(max_file_size=32 << 20))).scan_file(big)
    assert r.errors
    assert r.artifact.errors[0].kind == "limit"
