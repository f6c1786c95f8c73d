"""Format detection from a file's first bytes: EVTX from its first page, text formats from the first
64 KiB, whatever the reads return; the DuckDB engine's probe (size and format with one open)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aptcatch.hunt.engines import duckdb, winpool
from aptcatch.hunt.readers import detect_format, format_of_head

EVENT = {"Event": {"System": {"EventID": 1, "Channel": "x"}, "EventData": {"CommandLine": "c" * 10_000}}}
CASES: list[tuple[str, bytes, str | None]] = [
    ("evtx", b"ElfFile\x00" + bytes(70_000), "evtx"),
    ("magic only", b"ElfFile\x00", "evtx"),
    ("cut magic", b"ElfFi", None),
    ("empty", b"", None),
    ("long first line", b"\n\n" + json.dumps(EVENT).encode() + b"\n{}\n", "windows-json"),
    ("beyond 64 KiB", json.dumps({"Event": {"x": "y" * 70_000}}).encode() + b"\n", "json"),
    ("zeek tsv", b"\xef\xbb\xbf#separator \\x09\n#fields\tts\n", "zeek-tsv"),
    ("zeek json", b'{"ts": 1.5, "uid": "C1"}\n', "zeek-json"),
    (
        "squid",
        b"1286536309.450    120 192.168.0.2 TCP_MISS/200 1024 GET http://a.example/ - NONE/- -\n",
        "squid",
    ),
    ("csv", b"a,b\n1,2\n", "csv"),
    ("binary", b"\x00\x01\x02", None),
]


@pytest.mark.parametrize(("name", "data", "expected"), CASES, ids=[c[0] for c in CASES])
def test_detection_reads_what_it_needs(tmp_path: Path, name: str, data: bytes, expected: str | None) -> None:
    path = tmp_path / "f"
    path.write_bytes(data)
    assert detect_format(path) == expected
    assert format_of_head(data[:65536]) == expected  # the whole head at once: the same answer
    assert duckdb._probe(path) == (len(data), expected)


def test_probe_of_what_cannot_be_read(tmp_path: Path) -> None:
    assert duckdb._probe(tmp_path / "gone") == (-1, None)
    size, kind = duckdb._probe(tmp_path)  # a folder: opened, not read
    assert size >= 0 and kind is None
    with pytest.raises(OSError):
        detect_format(tmp_path)


def test_the_pool_is_warmed_up_once_the_files_add_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(winpool, "warm_up", lambda: calls.append(1))
    monkeypatch.setattr(winpool, "MIN_BYTES", 20)
    files = []
    for i in range(4):
        files.append(tmp_path / f"{i}.csv")
        files[-1].write_text("a,b\n1,2\n")  # 8 bytes each, no Windows events: no pool
    for workers, pooled, expected in ((2, duckdb.Pooled(), [1]), (1, duckdb.Pooled(), []), (2, None, [])):
        calls.clear()
        results = duckdb.read_files(files, None, None, workers, pooled=pooled)
        assert calls == expected
        assert [r.format for r in results] == ["csv"] * 4
    calls.clear()
    duckdb.read_files(files[:2], None, None, 2, pooled=duckdb.Pooled())  # 16 bytes: no pool to expect
    assert calls == []


@pytest.mark.parametrize("fmt", [None, "squid", "zeek-tsv", "windows-json", "csv"])
def test_a_file_gone_since_it_was_listed_is_an_error_of_its_result(tmp_path: Path, fmt: str | None) -> None:
    from aptcatch.hunt.readers import read_log

    gone = tmp_path / "proxy.log"
    result = read_log(gone, fmt)
    assert result.path == gone and result.rows == 0
    assert result.errors == ["unreadable: No such file or directory"]
    assert result.format == (fmt or "unknown")


def test_the_engine_reports_a_vanished_file_and_reads_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aptcatch.hunt.engines import EngineOptions, open_engine

    kept = tmp_path / "a.log"
    kept.write_text(
        "1732435200.123    120 192.0.2.10 TCP_MISS/200 512 GET http://a.example.org/x - "
        "HIER_DIRECT/203.0.113.7 text/html\n",
        encoding="utf-8",
    )
    gone = tmp_path / "b.log"
    gone.write_text("x\n", encoding="utf-8")
    real = duckdb._probe

    def vanish_then_probe(path: Path) -> tuple[int, str | None]:
        if path == gone:  # listed, then removed before its size and format are read
            gone.unlink()
        return real(path)

    monkeypatch.setattr(duckdb, "_probe", vanish_then_probe)
    with open_engine("duckdb", EngineOptions(cores=1)) as engine:
        results = engine.read([str(kept), str(gone)]).results
    assert [r.rows for r in results] == [1, 0]
    assert results[1].errors == ["unreadable: No such file or directory"]
