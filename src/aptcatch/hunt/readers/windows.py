"""Windows / Sysmon events: field names and the JSON-lines reader (evtx_dump, Winlogbeat, flat NXLog/Mordor).

Every shape is named with the raw Windows field names Sigma rules use (``EventID``, ``Computer``,
``Image``, ``Provider_Name``, ``TimeCreated_SystemTime`` …) and grouped into segments by
:mod:`aptcatch.hunt.readers.winsegments`; :data:`_MAP` says which raw fields feed which normalised column.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aptcatch.hunt.readers.base import ReadResult, parse_hashes, text
from aptcatch.hunt.readers.winfast import make_batch
from aptcatch.hunt.readers.winsegments import NORM_COLUMNS, Batch, event_sections, flatten

# Raw Windows/Sysmon field -> normalised column (first non-empty wins).
_MAP: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("@timestamp", ("TimeCreated_SystemTime", "TimeCreated", "UtcTime", "@timestamp", "EventTime")),
    ("host.name", ("Computer", "Hostname", "host")),
    ("event.code", ("EventID",)),
    ("event.dataset", ("Channel",)),
    ("process.executable", ("Image", "NewProcessName", "Application")),
    ("process.command_line", ("CommandLine", "ProcessCommandLine")),
    ("process.parent.executable", ("ParentImage", "ParentProcessName")),
    ("file.path", ("TargetFilename", "ImageLoaded", "TargetObject")),
    ("dns.question.name", ("QueryName",)),
    ("destination.domain", ("DestinationHostname",)),
    ("destination.ip", ("DestinationIp", "DestAddress")),
    ("destination.port", ("DestinationPort", "DestPort")),
    ("source.ip", ("SourceIp", "IpAddress", "SourceAddress")),
    ("source.port", ("SourcePort",)),
    ("user.name", ("User", "TargetUserName", "SubjectUserName")),
)

# Flat NXLog / Mordor names of System fields -> the evtx names.
_FLAT_RENAMES = {
    "Hostname": "Computer",
    "SourceName": "Provider_Name",
    "ProviderGuid": "Provider_Guid",
    "RecordNumber": "EventRecordID",
}
# Winlogbeat ``winlog.*`` paths -> the evtx names.
_WINLOG = (
    ("Channel", ("channel",)),
    ("EventID", ("event_id",)),
    ("Provider_Name", ("provider_name",)),
    ("Provider_Guid", ("provider_guid",)),
    ("Computer", ("computer_name",)),
    ("EventRecordID", ("record_id",)),
    ("Execution_ProcessID", ("process", "pid")),
    ("Execution_ThreadID", ("process", "thread", "id")),
)


def raw_fields(obj: dict[str, Any]) -> dict[str, Any] | None:
    """An event in any supported shape as raw Windows fields (None: not a Windows event)."""
    event = obj.get("Event")
    if isinstance(event, dict) and isinstance(event.get("System"), dict):
        out: dict[str, Any] = {}
        for k, v in event["System"].items():
            flatten(v, k, out)
        out.update(event_sections(event))
        return out
    winlog = obj.get("winlog")
    if isinstance(winlog, dict):  # Winlogbeat
        out = {}
        for name, path in _WINLOG:
            cur: Any = winlog
            for part in path:
                cur = cur.get(part) if isinstance(cur, dict) else None
            if cur is not None:
                out[name] = cur
        if obj.get("@timestamp") is not None:
            out["TimeCreated_SystemTime"] = obj["@timestamp"]
        for section in ("event_data", "user_data"):
            if isinstance(winlog.get(section), dict):
                for k, v in winlog[section].items():
                    flatten(v, k, out)
        return out
    if not ({"EventID", "Channel", "EventData"} & obj.keys()):
        return None
    out = {}
    for k, v in obj.items():  # flat: fields at the top level
        if k == "EventData" and isinstance(v, dict):
            for dk, dv in v.items():
                flatten(dv, dk, out)
        else:
            flatten(v, _FLAT_RENAMES.get(k, k), out)
    return out


def flatten_event(event: dict[str, Any]) -> dict[str, Any]:
    """One event in any supported shape -> flat raw Windows fields (one event at a time)."""
    return raw_fields(event) or dict(event)


def normalise(flat: dict[str, Any]) -> dict[str, str | None]:
    """Raw columns as text plus the normalised columns (one event at a time)."""
    row: dict[str, str | None] = {k: text(v) for k, v in flat.items() if not k.startswith("@")}
    for column, sources in _MAP:
        for s in sources:
            if (v := text(flat.get(s))) is not None:
                row[column] = v
                break
    ts = row.get("@timestamp")
    if ts and " " in ts and "T" not in ts:  # Sysmon UtcTime "2019-05-16 14:17:15.753"
        row["@timestamp"] = ts.replace(" ", "T") + ("" if ts.endswith("Z") else "Z")
    row.update(parse_hashes(row.get("Hashes") or row.get("Hash")))
    return row


def new_batch(mapping: dict[str, str] | None = None) -> Batch:
    """A batch with the default field map; a user mapping (raw field -> normalised column) goes first.
    The batch is the C-accelerated one (:mod:`.winfast`) where it is built, else the pure-Python one."""
    extra: dict[str, list[str]] = {}
    for src, dst in (mapping or {}).items():
        if dst in NORM_COLUMNS and dst not in ("file.hash.md5", "file.hash.sha1", "file.hash.sha256"):
            extra.setdefault(dst, []).append(src)
    merged = tuple((col, (*extra.pop(col, ()), *srcs)) for col, srcs in _MAP)
    merged += tuple((col, tuple(srcs)) for col, srcs in extra.items())
    return make_batch(merged, raw_fields)


def _lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            yield line.rstrip("\r\n").lstrip("\ufeff")


def read_windows_json_segments(path: Path, mapping: dict[str, str] | None = None) -> ReadResult:
    """Windows events as JSON lines, one segment per event shape; bad lines are counted, never fatal."""
    batch = new_batch(mapping)
    ingest_json_lines(batch, path)
    return batch.finish().results()[0]


def ingest_json_lines(batch: Batch, path: Path) -> None:
    """One file of Windows events as JSON lines into ``batch`` (bad lines counted there)."""
    batch.ingest(batch.open(path, "windows-json"), _lines(path), unit="line")
