"""Windows readers: per-shape Sigma segments, raw field names, the normalised table and originals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aptcatch.hunt.engines.winpool import read_pooled
from aptcatch.hunt.readers import read_log
from aptcatch.hunt.readers.base import NORMALISED, ROW, ReadResult, Segment
from aptcatch.hunt.readers.evtx import read_evtx, read_evtx_files
from aptcatch.hunt.readers.windows import read_windows_json_segments

SYSMON = "Microsoft-Windows-Sysmon/Operational"


def _system(eid: Any, channel: str, provider: str, record: int, correlation: bool = False) -> dict[str, Any]:
    return {
        "Provider": {"#attributes": {"Name": provider, "Guid": "{5770385F-C22A-43E0-BF4C-06F5698FFBD9}"}},
        "EventID": eid,
        "Version": 5,
        "Level": 4,
        "TimeCreated": {"#attributes": {"SystemTime": f"2024-05-01T10:00:0{record % 10}.000000Z"}},
        "EventRecordID": record,
        "Correlation": {"#attributes": {"ActivityID": "{AAAA}"}} if correlation else None,
        "Execution": {"#attributes": {"ProcessID": 1780, "ThreadID": 2204}},
        "Channel": channel,
        "Computer": "pc1.example.corp",
        "Security": {"#attributes": {"UserID": "S-1-5-18"}},
    }


def _sysmon1(record: int, image: str, pid: Any = 3788) -> dict[str, Any]:
    data = {
        "UtcTime": "2024-05-01 10:00:00.123",
        "ProcessId": pid,
        "Image": image,
        "CommandLine": f"{image} /c whoami",
        "User": "-",
        "Hashes": "SHA1=AA,MD5=0BCD,SHA256=ABCDEF,IMPHASH=11",
        "ParentImage": "C:\\Windows\\explorer.exe",
        "Initiated": True,
    }
    return {"Event": {"System": _system(1, SYSMON, "Microsoft-Windows-Sysmon", record), "EventData": data}}


def _logon(record: int) -> dict[str, Any]:
    eid = {"#attributes": {"Qualifiers": 16384}, "#text": 4624}
    data = {"SubjectUserName": "-", "TargetUserName": "alice", "IpAddress": "10.0.0.7", "LogonType": 3}
    system = _system(eid, "Security", "Microsoft-Windows-Security-Auditing", record, correlation=True)
    return {"Event": {"#attributes": {"xmlns": "x"}, "System": system, "EventData": data}}


def _cleared(record: int) -> dict[str, Any]:
    user = {"LogFileCleared": {"#attributes": {"xmlns": "y"}, "SubjectUserName": "bob", "Channel": "X"}}
    return {"Event": {"System": _system(104, "System", "Eventlog", record), "UserData": user}}


def _write_lines(tmp_path: Path, events: list[Any], name: str = "events.json") -> Path:
    lines = [e if isinstance(e, str) else json.dumps(e) for e in events]
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def _by_eid(r: ReadResult) -> dict[str, Segment]:
    assert r.segments is not None
    return {s.constants.get("EventID", "?"): s for s in r.segments}


def test_evtx_dump_lines_segments_fields_rows_and_originals(tmp_path: Path) -> None:
    events: list[Any] = [
        _sysmon1(10, "C:\\Windows\\System32\\cmd.exe"),
        _logon(11),
        "{broken",
        "",
        _sysmon1(12, "C:\\Temp\\x.exe", pid="77"),
        _cleared(13),
    ]
    p = _write_lines(tmp_path, events)
    r = read_windows_json_segments(p)
    assert (r.format, r.rows, r.bad_lines) == ("windows-json", 4, 1)
    assert r.errors[0].startswith("line 3:")
    seg = _by_eid(r)
    assert set(seg) == {"1", "4624", "104"}
    sysmon = seg["1"]
    assert sysmon.constants == {
        "Channel": SYSMON,
        "EventID": "1",
        "Provider_Name": "Microsoft-Windows-Sysmon",
    }
    assert sysmon.table.column(ROW).to_pylist() == [0, 2]
    assert {"Channel", "EventID", "Provider_Name"}.isdisjoint(sysmon.table.column_names)
    for name in (
        "Provider_Guid",
        "TimeCreated_SystemTime",
        "EventRecordID",
        "Execution_ProcessID",
        "Security_UserID",
        "Computer",
        "Image",
        "Hashes",
    ):
        assert name in sysmon.table.column_names, name
    assert "Correlation" not in sysmon.fields()  # null everywhere: no field
    first = sysmon.table.to_pylist()[0]
    assert first["ProcessId"] == "3788" and first["Execution_ProcessID"] == "1780"
    assert first["Initiated"] == "true" and first["User"] == "-"  # raw values stay verbatim
    assert sysmon.table.column("ProcessId").to_pylist() == ["3788", "77"]
    logon = seg["4624"]
    assert logon.constants["EventID"] == "4624" and logon.constants["Channel"] == "Security"
    assert logon.table.column("EventID_Qualifiers").to_pylist() == ["16384"]
    assert logon.table.column("Correlation_ActivityID").to_pylist() == ["{AAAA}"]
    assert logon.table.column("LogonType").to_pylist() == ["3"]
    cleared = seg["104"]
    assert cleared.table.column("SubjectUserName").to_pylist() == ["bob"]
    assert cleared.constants["Channel"] == "System"  # UserData's own Channel does not shadow it
    # the normalised table: every column, row i = event i
    t = r.table
    assert set(NORMALISED) - {"event.original"} <= set(t.column_names)
    assert "event.original" not in t.column_names
    assert t.column("event.code").to_pylist() == ["1", "4624", "1", "104"]
    assert t.column("process.executable").to_pylist()[2] == "C:\\Temp\\x.exe"
    assert t.column("user.name").to_pylist() == [None, "alice", None, "bob"]  # "-" counts as empty
    assert t.column("source.ip").to_pylist()[1] == "10.0.0.7"
    assert t.column("file.hash.md5").to_pylist() == ["0bcd", None, "0bcd", None]
    assert t.column("file.hash.sha256").to_pylist()[0] == "abcdef"
    assert t.column("@timestamp").to_pylist()[0] == "2024-05-01T10:00:00.000000Z"
    assert t.column("host.name").to_pylist() == ["pc1.example.corp"] * 4
    assert json.loads(r.original([1])[0])["Event"]["System"]["EventRecordID"] == 11
    assert r.original([3]) == [json.dumps(events[5])]
    via_registry = read_log(p)  # detection -> generic.read_windows_json -> the segmented reader
    assert via_registry.format == "windows-json" and via_registry.table.equals(t)


def test_columns_of_numbers_and_mixed_columns_become_text(tmp_path: Path) -> None:
    n = 300
    events = [_sysmon1(i, f"C:\\a{i}.exe", pid=i if i % 7 else str(i)) for i in range(n)]
    r = read_windows_json_segments(_write_lines(tmp_path, events))
    (seg,) = r.segments or []
    assert seg.rows == n and seg.table.column(ROW).to_pylist() == list(range(n))
    assert seg.table.column("ProcessId").to_pylist() == [str(i) for i in range(n)]  # mixed int/str
    assert seg.table.column("Initiated").to_pylist() == ["true"] * n
    assert seg.table.column("EventRecordID").to_pylist()[:3] == ["0", "1", "2"]
    assert r.table.column("process.executable").to_pylist()[5] == "C:\\a5.exe"


def test_winlogbeat_and_flat_shapes_use_the_same_names(tmp_path: Path) -> None:
    beat = {
        "@timestamp": "2024-05-01T10:00:00.000Z",
        "winlog": {
            "channel": SYSMON,
            "event_id": 3,
            "provider_name": "Microsoft-Windows-Sysmon",
            "computer_name": "pc2",
            "record_id": 5,
            "process": {"pid": 99, "thread": {"id": 7}},
            "event_data": {"DestinationIp": "203.0.113.5", "DestinationPort": 443, "Image": "C:\\b.exe"},
        },
    }
    flat = {
        "EventTime": "2024-05-01 12:00:01",
        "Hostname": "pc3",
        "SourceName": "Microsoft-Windows-Sysmon",
        "Channel": SYSMON,
        "EventID": 22,
        "QueryName": "evil.example",
        "@version": "1",
    }
    r = read_windows_json_segments(_write_lines(tmp_path, [beat, flat, {"just": "json"}]))
    assert r.rows == 2 and r.bad_lines == 1
    seg = _by_eid(r)
    b = seg["3"]
    assert b.constants == {"Channel": SYSMON, "EventID": "3", "Provider_Name": "Microsoft-Windows-Sysmon"}
    row = b.table.to_pylist()[0]
    assert row["Computer"] == "pc2" and row["Execution_ProcessID"] == "99"
    assert row["Execution_ThreadID"] == "7" and row["EventRecordID"] == "5"
    assert row["DestinationPort"] == "443" and row["TimeCreated_SystemTime"] == "2024-05-01T10:00:00.000Z"
    f = seg["22"]
    assert f.constants["Provider_Name"] == "Microsoft-Windows-Sysmon"
    assert f.table.to_pylist()[0]["Computer"] == "pc3"
    assert not any(c.startswith("@") and c != ROW for c in f.table.column_names)
    t = r.table.to_pylist()
    assert t[0]["destination.ip"] == "203.0.113.5" and t[0]["destination.port"] == "443"
    assert t[0]["host.name"] == "pc2" and t[0]["@timestamp"] == "2024-05-01T10:00:00.000Z"
    assert t[1]["dns.question.name"] == "evil.example" and t[1]["host.name"] == "pc3"
    assert t[1]["@timestamp"] == "2024-05-01T12:00:01Z"


def test_user_mapping_feeds_a_normalised_column(tmp_path: Path) -> None:
    event = _sysmon1(1, "C:\\c.exe")
    event["Event"]["EventData"]["Url"] = "http://evil.example/x"
    r = read_windows_json_segments(_write_lines(tmp_path, [event]), {"Url": "url.full"})
    assert r.table.column("url.full").to_pylist() == ["http://evil.example/x"]


def test_unreadable_evtx_is_counted(tmp_path: Path) -> None:
    p = tmp_path / "x.evtx"
    p.write_bytes(b"ElfFile\x00" + b"\x00" * 100)
    r = read_evtx(p)
    assert r.rows == 0 and r.bad_lines >= 1 and r.errors
    assert set(NORMALISED) - {"event.original"} <= set(r.table.column_names)


@pytest.mark.corpus
def test_real_evtx_counts_and_fields(shared_data: Path, tmp_path: Path) -> None:
    from evtx import PyEvtxParser

    base = shared_data / "evtx-attack-samples"
    sysmon = base / "Defense Evasion" / "DE_UAC_Disabled_Sysmon_12_13.evtx"
    security = base / "Lateral Movement" / "LM_WMI_4624_4688_TargetHost.evtx"
    results = list(read_evtx_files([sysmon, security]))
    for path, r in zip((sysmon, security), results, strict=True):
        records = [rec["data"] for rec in PyEvtxParser(str(path)).records_json()]
        assert r.rows == len(records) and r.bad_lines == 0 and r.path == path
        assert sum(s.rows for s in r.segments or ()) == r.rows
        assert sorted(i for s in r.segments or () for i in s.table.column(ROW).to_pylist()) == list(
            range(r.rows)
        )
        assert list(r.originals or ()) == records
    s_seg = _by_eid(results[0])
    assert s_seg["1"].table.column("Image").to_pylist() == ["C:\\Windows\\System32\\reg.exe"]
    assert s_seg["13"].table.column("Computer").to_pylist() == ["DC1.insecurebank.local"]
    logon = _by_eid(results[1])["4624"]
    assert logon.constants["Provider_Name"] == "Microsoft-Windows-Security-Auditing"
    assert logon.table.column("TargetUserName").to_pylist()[0] == "WIN-77LTAPHIQ1R$"
    assert logon.table.column("SubjectUserName").to_pylist()[0] == "-"
    t = results[1].table
    assert t.column("source.ip").to_pylist()[1] == "10.0.2.17"
    assert t.column("event.code").to_pylist()[:5] == ["4624", "4624", "4624", "4624", "4688"]
    # the same files through worker processes give the same tables
    pooled = [r for s in read_pooled([(sysmon, "evtx"), (security, "evtx")], None, 2) for r in s.results]
    assert [p.table.equals(r.table) for p, r in zip(pooled, results, strict=True)] == [True, True]
    assert pooled[1].original([2]) == results[1].original([2])
    # damaged copies: counted, never fatal
    cut = tmp_path / "cut.evtx"
    cut.write_bytes(security.read_bytes()[:40000])
    bad = tmp_path / "bad.evtx"
    data = bytearray(security.read_bytes())
    data[4096 + 512 : 4096 + 1500] = b"\xa5" * 988
    bad.write_bytes(bytes(data))
    for damaged in read_evtx_files([cut, bad]):
        assert damaged.bad_lines >= 1 and damaged.errors
        assert damaged.rows == damaged.table.num_rows == sum(s.rows for s in damaged.segments or ())
