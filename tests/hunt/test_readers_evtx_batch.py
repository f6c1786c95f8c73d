"""The EVTX batches give exactly the older batch's output: segments, constants, columns, text, rows."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from aptcatch.hunt.readers.base import ReadResult
from aptcatch.hunt.readers.evtx import _read_into, new_evtx_batch, read_evtx_files
from aptcatch.hunt.readers.evtx_batch import FastBatch
from aptcatch.hunt.readers.evtx_native import NativeBatch
from aptcatch.hunt.readers.windows import new_batch

SYSMON = "Microsoft-Windows-Sysmon/Operational"


def assert_same(old: Sequence[ReadResult], new: Sequence[ReadResult]) -> None:
    """Every file: path, format, damage, normalised table, originals, and the segments in order."""
    assert len(old) == len(new)
    for a, b in zip(old, new, strict=True):
        assert (a.path, a.format, a.bad_lines, a.errors) == (b.path, b.format, b.bad_lines, b.errors)
        assert a.table.equals(b.table), a.path
        assert list(a.originals or ()) == list(b.originals or ())
        assert a.segments is not None and b.segments is not None
        assert [s.constants for s in a.segments] == [s.constants for s in b.segments], a.path
        for x, y in zip(a.segments, b.segments, strict=True):
            assert x.table.schema == y.table.schema, (a.path, x.constants)
            assert x.table.equals(y.table), (a.path, x.constants)


def _system(eid: Any, record: int, **extra: Any) -> dict[str, Any]:
    system: dict[str, Any] = {
        "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon", "Guid": "{5770385F}"}},
        "EventID": eid,
        "Version": 5,
        "TimeCreated": {"#attributes": {"SystemTime": f"2024-05-01T10:00:{record % 60:02d}.000Z"}},
        "EventRecordID": record,
        "Correlation": None,
        "Execution": {"#attributes": {"ProcessID": 1780, "ThreadID": 2204}},
        "Channel": SYSMON,
        "Computer": "pc1",
        "Security": {"#attributes": {"UserID": "S-1-5-18"}},
    }
    system.update(extra)
    return system


def _event(system: dict[str, Any], data: Any, section: str = "EventData") -> str:
    return json.dumps({"Event": {"#attributes": {"xmlns": "x"}, "System": system, section: data}})


def _cases() -> list[list[str]]:
    """Event texts per file: every shape and value kind the readers treat apart."""
    sysmon = [
        _event(
            _system(1, i),
            {
                "UtcTime": "2024-05-01 10:00:00.1",
                "ProcessId": i if i % 3 else str(i),
                "Image": f"C:\\a{i}.exe",
                "CommandLine": 'a "quoted" arg\nnext',
                "User": "-",
                "Initiated": i % 2 == 0,
                "Hashes": "SHA1=AA,MD5=0BCD,SHA256=ABCDEF",
            },
        )
        for i in range(6)
    ]
    logon = _system({"#attributes": {"Qualifiers": 16384}, "#text": 4624}, 7, Channel="Security")
    logon["Correlation"] = {"#attributes": {"ActivityID": "{AAAA}"}}
    odd = [
        _event(
            logon,
            {"TargetUserName": "alice", "IpAddress": "10.0.0.7", "LogonType": 3, "SubjectUserName": "-"},
        ),
        _event(
            _system(104, 8, Channel="System"),
            {"LogFileCleared": {"#attributes": {"xmlns": "y"}, "SubjectUserName": "bob", "Channel": "X"}},
            section="UserData",
        ),
        _event(_system(4, 9), {"Data": {"#text": ["a", "b", None]}, "#attributes": {"Name": "n"}}),
        _event(_system(5, 10), {"Float": 1.0, "Big": 1e15, "Half": 2.5, "Huge": 2**64, "Neg": -3, "T": True}),
        _event(_system("1", 11), {"Image": "C:\\b.exe"}),  # the same id as text: a group of its own
        _event(_system(True, 12), {"Image": "C:\\c.exe"}),  # True == 1: the group of id 1 … if first
        _event(_system([1, 2], 13), {"Image": "x"}),  # unhashable id: filed under its text
        _event(
            _system(1, 14, Correlation={"#attributes": {"ActivityID": "{B}"}, "#text": "t"}), {"Image": "y"}
        ),
        _event(_system(None, 15, Channel=None, Provider=None), {}),
        _event(_system(6, 16), None),
        json.dumps({"Event": {"System": _system(7, 17), "EventData": {"A": "1"}, "RenderingInfo": {"X": 1}}}),
        "{broken",
        "",
        "[1, 2]",
        json.dumps({"just": "json"}),
        json.dumps(
            {
                "winlog": {
                    "channel": SYSMON,
                    "event_id": 3,
                    "provider_name": "Microsoft-Windows-Sysmon",
                    "event_data": {"DestinationIp": "203.0.113.5", "DestinationPort": 443},
                },
                "@timestamp": "2024-05-01T10:00:00Z",
            }
        ),
        json.dumps(
            {
                "EventTime": "2024-05-01 12:00:01",
                "Hostname": "pc3",
                "Channel": SYSMON,
                "EventID": 22,
                "QueryName": "evil.example",
                "@version": "1",
                "Hash": "MD5=AB",
            }
        ),
    ]
    nulls = [_event(_system(1, 20 + i, Computer=None), {"Image": f"C:\\n{i}.exe"}) for i in range(2)]
    return [sysmon, odd, nulls, [], sysmon[:2] + odd[:2]]


def _json_objects(files: list[list[str]]) -> list[list[str]]:
    """The cases without the texts that are no JSON (DuckDB refuses a batch that holds one)."""
    out = []
    for texts in files:
        kept = []
        for t in texts:
            try:
                json.loads(t)
            except ValueError:
                continue
            kept.append(t)
        out.append(kept)
    return out


def _read(batch: Any, files: list[list[str]], tmp_path: Path) -> list[ReadResult]:
    for i, texts in enumerate(files):
        batch.ingest(batch.open(tmp_path / f"f{i}.json", "windows-json"), iter(texts))
    return list(batch.finish().results())


@pytest.mark.parametrize("mapping", [None, {"Image": "url.full", "EventRecordID": "source.port"}])
def test_fast_batch_equals_the_older_batch(tmp_path: Path, mapping: dict[str, str] | None) -> None:
    files = _cases()
    old = _read(new_batch(mapping), files, tmp_path)
    new = _read(new_evtx_batch(mapping, "python"), files, tmp_path)
    assert isinstance(new_evtx_batch(mapping, "python"), FastBatch)
    assert_same(old, new)
    assert_same(old, _read(new_evtx_batch(mapping, "native"), files, tmp_path))  # no JSON: all Python
    odd = new[1]
    assert odd.bad_lines == 3 and odd.rows == len(files[1]) - 4  # and one blank line
    eids = [s.constants.get("EventID") for s in odd.segments or ()]
    assert "4624" in eids and eids.count("1") >= 2  # int 1 and text "1" stay apart


@pytest.mark.parametrize("mapping", [None, {"Image": "url.full", "EventRecordID": "source.port"}])
def test_native_batch_equals_the_older_batch(tmp_path: Path, mapping: dict[str, str] | None) -> None:
    files = _json_objects(_cases())
    batch = new_evtx_batch(mapping, "native")
    assert isinstance(batch, NativeBatch)
    new = _read(batch, files, tmp_path)
    assert_same(_read(new_batch(mapping), files, tmp_path), new)
    # read by DuckDB: the Sysmon and "null Computer" files (the second file's odd events go to Python)
    assert batch.native_events >= len(files[0]) + len(files[2])
    assert batch.native_events < sum(map(len, files))


def test_fast_batch_values_as_text(tmp_path: Path) -> None:
    (res,) = _read(new_evtx_batch(None, "python"), [_cases()[1]], tmp_path)
    seg = next(s for s in res.segments or () if s.constants.get("EventID") == "5")
    row = seg.table.to_pylist()[0]
    assert (row["Float"], row["Big"], row["Half"], row["Neg"], row["T"]) == (
        "1",
        "1000000000000000",
        "2.5",
        "-3",
        "true",
    )
    assert row["Huge"] == "1.8446744073709552e+19"  # orjson reads an integer beyond 64 bits as a float
    data = next(s for s in res.segments or () if s.constants.get("EventID") == "4")
    assert data.table.column("Data").to_pylist() == ["a,b"]


def test_empty_batch(tmp_path: Path) -> None:
    assert _read(new_evtx_batch(None, "python"), [], tmp_path) == []
    (res,) = _read(new_evtx_batch(None, "python"), [["", "{bad"]], tmp_path)
    assert res.rows == 0 and res.bad_lines == 1 and res.segments == []


@pytest.mark.corpus
def test_readers_equal_the_older_one_on_the_corpus(shared_data: Path) -> None:
    paths = sorted((shared_data / "evtx-attack-samples").rglob("*.evtx"))
    assert len(paths) > 200
    old = list(read_evtx_files(paths, kind="reference"))
    assert_same(old, list(read_evtx_files(paths, kind="python")))
    assert_same(old, list(read_evtx_files(paths, kind="native")))
    batch = new_evtx_batch(None, "native")
    assert isinstance(batch, NativeBatch)
    for p in paths[:40]:
        _read_into(batch, p)
    assert_same(old[:40], batch.finish().results())
    assert batch.native_events > 0.8 * batch.events  # most events read by DuckDB
