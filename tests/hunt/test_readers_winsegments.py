"""The Windows event batch (``winsegments.Batch``): shapes filed apart, values as text, damage counted,
and a batch of many files giving each file what a batch of its own gives it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from aptcatch.hunt.readers.base import ROW, ReadResult, Segment
from aptcatch.hunt.readers.evtx import read_evtx, read_evtx_files
from aptcatch.hunt.readers.windows import new_batch
from aptcatch.hunt.readers.winsegments import Batch

SYSMON = "Microsoft-Windows-Sysmon/Operational"


def _by_first_row(res: ReadResult) -> list[Segment]:
    """A file's segments ordered by their first row (their order follows the batch's groups)."""
    return sorted(res.segments or (), key=lambda s: s.table.column(ROW)[0].as_py())


def assert_same(old: Sequence[ReadResult], new: Sequence[ReadResult]) -> None:
    """Every file: path, format, damage, normalised table, originals, and the same segments."""
    assert len(old) == len(new)
    for a, b in zip(old, new, strict=True):
        assert (a.path, a.format, a.bad_lines, a.errors) == (b.path, b.format, b.bad_lines, b.errors)
        assert a.table.equals(b.table), a.path
        assert list(a.originals or ()) == list(b.originals or ())
        assert a.segments is not None and b.segments is not None
        segs_a, segs_b = _by_first_row(a), _by_first_row(b)
        assert [s.constants for s in segs_a] == [s.constants for s in segs_b], a.path
        for x, y in zip(segs_a, segs_b, strict=True):
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


def _sysmon(i: int, pid: Any = None, **data: Any) -> str:
    fields = {
        "UtcTime": "2024-05-01 10:00:00.1",
        "ProcessId": i if pid is None else pid,
        "Image": f"C:\\a{i}.exe",
        "CommandLine": 'a "quoted" arg\nnext é',
        "User": "-",
        "Initiated": i % 2 == 0,
        "Hashes": "SHA1=AA,MD5=0BCD,SHA256=ABCDEF",
    }
    fields.update(data)
    return _event(_system(1, i), fields)


def _cases() -> list[list[str]]:
    """Event texts per file: every shape and value kind the readers treat apart."""
    sysmon = [_sysmon(i, pid=str(i) if i % 3 == 0 else None) for i in range(8)]
    # the same structure with values whose text is easy to get wrong, in the same group
    suspects = [
        _sysmon(20, pid=2.5),
        _sysmon(21, pid=2**64),
        _sysmon(22, Image="[not a list]"),
        _sysmon(23, Image={"#text": "x"}),
        _sysmon(24, pid=18446744073709551615),
    ]
    logon = _system({"#attributes": {"Qualifiers": 16384}, "#text": 4624}, 7, Channel="Security")
    logon["Correlation"] = {"#attributes": {"ActivityID": "{AAAA}"}}
    mixed = [
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
        _event(
            _system(1, 14, Correlation={"#attributes": {"ActivityID": "{B}"}, "#text": "t"}), {"Image": "y"}
        ),
        _event(_system(None, 15, Channel=None, Provider=None), {}),
        _event(_system(6, 16), None),
        _event(_system(6, 17, Version={"#attributes": {"V": 1}}), {"A": "1"}),
        _event(_system(8, 18), {"User": {"#text": "x"}, "TargetUserName": "bob"}),  # a user.name source
        json.dumps({"Event": {"System": _system(7, 17), "EventData": {"A": "1"}, "RenderingInfo": {"X": 1}}}),
        *sysmon[:3],
        *suspects,
        *sysmon[3:],
    ]
    exotic = [
        _event(_system(True, 12), {"Image": "C:\\c.exe"}),  # True == 1 in a Python key
        _event(_system([1, 2], 13), {"Image": "x"}),  # unhashable id: filed under its text
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
        *sysmon[:2],
    ]
    nulls = [_event(_system(1, 30 + i, Computer=None), {"Image": f"C:\\n{i}.exe"}) for i in range(2)]
    return [sysmon, mixed, exotic, nulls, [], sysmon[:2] + mixed[:2]]


def _read(batch: Batch, files: list[list[str]], tmp_path: Path, first: int = 0) -> list[ReadResult]:
    for i, texts in enumerate(files, first):
        batch.ingest(batch.open(tmp_path / f"f{i}.json", "windows-json"), iter(texts))
    return list(batch.finish().results())


def _eids(res: ReadResult) -> list[Any]:
    return [s.constants.get("EventID") for s in res.segments or ()]


@pytest.mark.parametrize("mapping", [None, {"Image": "url.full", "EventRecordID": "source.port"}])
def test_shapes_rows_and_values(tmp_path: Path, mapping: dict[str, str] | None) -> None:
    files = _cases()
    results = _read(new_batch(mapping), files, tmp_path)
    assert [r.rows for r in results] == [8, 24, 5, 2, 0, 4]
    for r, texts in zip(results, files, strict=True):
        assert r.table.num_rows == r.rows == sum(s.rows for s in r.segments or ())
        rows = sorted(i for s in r.segments or () for i in s.table.column(ROW).to_pylist())
        assert rows == list(range(r.rows))  # every event in exactly one segment
        if r.bad_lines == 0:
            assert list(r.originals or ()) == texts
    mixed = results[1]
    eids = _eids(mixed)
    assert "4624" in eids and "104" in eids and eids.count("1") >= 3  # int 1, text "1", other System
    assert mixed.table.column("event.code").to_pylist()[:3] == ["4624", "104", "4"]  # file order
    sysmon = next(s for s in mixed.segments or () if s.table.num_rows > 5)
    assert sysmon.table.column("ProcessId").to_pylist()[3:8] == [
        "2.5",
        "1.8446744073709552e+19",  # orjson reads an integer beyond 64 bits as a float
        "22",
        "23",
        "18446744073709551615",
    ]
    if mapping:
        assert sysmon.table.column("Image").to_pylist()[0] == "C:\\a0.exe"  # raw names stay
        assert mixed.table.column("url.full").to_pylist()[-1] == "C:\\a7.exe"
        assert mixed.table.column("source.port").to_pylist()[0] == "7"


def test_odd_event_ids_and_shapes(tmp_path: Path) -> None:
    res = _read(new_batch(None), [_cases()[2]], tmp_path)[0]
    assert (res.rows, res.bad_lines, res.errors) == (5, 1, ["record 3: no Windows event"])
    assert sorted(_eids(res)) == ["1", "1,2", "3", "true"]  # True is not filed with 1
    assert res.table.column("destination.ip").to_pylist()[2] == "203.0.113.5"  # Winlogbeat shape


def test_texts_that_are_no_json(tmp_path: Path) -> None:
    files = [["{broken", "", "[1, 2]", *_cases()[1]], _cases()[0]]
    bad, good = _read(new_batch(None), files, tmp_path)
    assert bad.bad_lines == 2 and bad.errors[0].startswith("record 1:") and bad.rows == len(_cases()[1])
    assert good.bad_lines == 0 and good.rows == len(files[1])


def test_values_as_text(tmp_path: Path) -> None:
    """A float's text does not depend on its column (Arrow writes 1e15 as 1e+15, cell() the integer)."""
    res = _read(new_batch(None), [_cases()[1]], tmp_path)[0]
    seg = next(s for s in res.segments or () if s.constants.get("EventID") == "5")
    row = seg.table.to_pylist()[0]
    assert (row["Float"], row["Big"], row["Half"], row["Neg"], row["T"]) == (
        "1",
        "1000000000000000",
        "2.5",
        "-3",
        "true",
    )
    data = next(s for s in res.segments or () if s.constants.get("EventID") == "4")
    assert data.table.column("Data").to_pylist() == ["a,b"]
    assert "x" in res.table.column("user.name").to_pylist()  # the first source, though an object


def test_event_count_of_a_file_ingested_twice(tmp_path: Path) -> None:
    batch = new_batch(None)
    f = batch.open(tmp_path / "x.evtx", "evtx")
    batch.ingest(f, iter(_cases()[0][:2]))
    batch.ingest(f, iter(_cases()[0][2:3]))  # after a damaged record the reader goes on
    assert batch.events == 3
    (res,) = batch.finish().results()
    assert res.rows == 3 and list(res.originals or ()) == _cases()[0][:3]


def test_empty_batches(tmp_path: Path) -> None:
    assert _read(new_batch(None), [], tmp_path) == []
    (res,) = _read(new_batch(None), [["", "{bad"]], tmp_path)
    assert res.rows == 0 and res.bad_lines == 1 and res.segments == []


def test_one_batch_of_many_files_gives_each_file_its_own_result(tmp_path: Path) -> None:
    files = _cases()
    alone = [_read(new_batch(None), [texts], tmp_path, first=i)[0] for i, texts in enumerate(files)]
    assert_same(alone, _read(new_batch(None), files, tmp_path))


@pytest.mark.corpus
def test_evtx_files_read_together_as_each_alone(shared_data: Path) -> None:
    regression = sorted((shared_data / "sigma" / "regression_data").rglob("*.evtx"))
    paths = sorted((shared_data / "evtx-attack-samples").rglob("*.evtx"))
    assert len(regression) > 200 and len(paths) > 200
    for group in (regression, paths):
        assert_same([read_evtx(p) for p in group], list(read_evtx_files(group)))
