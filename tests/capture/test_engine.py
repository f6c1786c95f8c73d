"""Engine behaviour with small in-test analysers: recursion, limits, errors, dedupe, chain verdict."""

from __future__ import annotations

from dataclasses import dataclass

from aptcatch.capture.context import ArtifactContext
from aptcatch.capture.engine import ScanConfig, Scanner
from aptcatch.capture.limits import Limits
from aptcatch.capture.types import FileType


@dataclass
class Splitter:
    """Treats text as a container: each line 'child:<text>' becomes a child artifact."""

    name: str = "splitter"
    types: frozenset[FileType] | None = frozenset({FileType.TEXT})

    def analyze(self, ctx: ArtifactContext) -> None:
        for i, line in enumerate(ctx.data.decode().splitlines()):
            if line.startswith("child:"):
                ctx.child(f"c{i}.txt", line[6:].replace("\\n", "\n").encode(), type_hint=FileType.TEXT)
                continue
            if "boom" in line:
                raise ValueError("malformed record 7")
            if "squiblydoo" in line:
                ctx.finding("yara.squiblydoo", "test")
            ctx.text(line)


def scanner(**limits: int) -> Scanner:
    return Scanner(ScanConfig(limits=Limits(**limits)), analyzers=[Splitter()])  # type: ignore[arg-type]


def test_children_are_recursed_and_named() -> None:
    r = scanner().scan_bytes(b"hello\nchild:inner line\n", name="outer.txt")
    assert [c.name for c in r.artifact.children] == ["c1.txt"]
    assert r.artifact.children[0].id == "0.0"
    assert r.artifact.children[0].sha256


def test_analyzer_exception_is_an_artifact_error_and_scan_goes_on() -> None:
    r = scanner().scan_bytes(b"child:boom\nchild:squiblydoo\n", name="x.txt")
    errors = [e for c in r.artifact.children for e in c.errors]
    assert any("malformed record 7" in e.message and e.kind == "parse" for e in errors)
    assert r.verdict == "suspicious" or r.verdict == "malicious"


def test_depth_limit_records_error() -> None:
    data = b"child:child:child:child:deep"
    r = scanner(max_depth=2).scan_bytes(data, name="x.txt")
    node = r.artifact
    while node.children:
        node = node.children[0]
    assert node.depth == 2
    assert any(e.kind == "limit" and "nesting" in e.message for e in node.errors)


def test_duplicate_content_is_analysed_once() -> None:
    r = scanner().scan_bytes(b"child:same\nchild:same\n", name="x.txt")
    a, b = r.artifact.children
    assert "duplicate_of" not in a.metadata
    assert b.metadata["duplicate_of"] == a.id


def test_children_count_limit() -> None:
    data = "\n".join(f"child:{i}" for i in range(50)).encode()
    r = scanner(max_children=10).scan_bytes(data, name="x.txt")
    assert len(r.artifact.children) == 10
    assert sum(1 for e in r.artifact.errors if e.kind == "limit") == 1


def test_missing_and_oversized_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = scanner(max_file_size=10)
    missing = s.scan_file(tmp_path / "nope.eml")
    assert missing.errors and "nope.eml" in missing.errors[0]
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 100)
    r = s.scan_file(big)
    assert r.errors and "size limit" in r.errors[0].replace("-byte file limit", " size limit")
    assert r.artifact.errors[0].kind == "limit"
    assert r.sha256  # still identified by hash


def test_timeout_is_per_artifact() -> None:
    @dataclass
    class Slow:
        name: str = "slow"
        types: frozenset[FileType] | None = frozenset({FileType.TEXT})

        def analyze(self, ctx: ArtifactContext) -> None:
            if b"slow" in ctx.data:
                while True:
                    pass

    s = Scanner(ScanConfig(limits=Limits(analyzer_timeout=0.2)), analyzers=[Splitter(), Slow()])  # type: ignore[list-item]
    r = s.scan_bytes(b"child:slow\nchild:fine\n", name="x.txt")
    slow, fine = r.artifact.children
    assert any(e.kind == "timeout" for e in slow.errors)
    assert not fine.errors


def test_findings_carry_artifact_path_and_catalogue_facts() -> None:
    r = scanner().scan_bytes(b"child:squiblydoo\n", name="mail.txt")
    f = next(f for f in r.findings if f.id == "yara.squiblydoo")
    assert f.artifact == "0.0"
    assert f.artifact_path == "mail.txt > c0.txt"
    assert "T1218.010" in f.techniques
    assert r.techniques == ("T1105", "T1218.010")
