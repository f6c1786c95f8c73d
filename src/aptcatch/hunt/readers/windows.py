"""Windows / Sysmon events: EVTX records and JSON lines (evtx_dump, Winlogbeat, flat NXLog/Mordor style).

Every shape is first flattened to the raw Windows field names (``EventID``, ``Computer``, ``Image`` …),
kept as columns, then mapped to the normalised columns.
"""

from __future__ import annotations

from typing import Any

from aptcatch.hunt.readers.base import parse_hashes, text

# Raw Windows/Sysmon field -> normalised column (first present wins).
_MAP: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("@timestamp", ("TimeCreated", "UtcTime", "@timestamp", "EventTime", "TimeCreated_SystemTime")),
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


def _attrs(value: Any, prefix: str, out: dict[str, Any]) -> None:
    """Flatten evtx JSON nodes (``#attributes``, ``#text``) into ``prefix`` / ``prefix_Attr`` keys."""
    if isinstance(value, dict):
        attrs = value.get("#attributes")
        if isinstance(attrs, dict):
            for k, v in attrs.items():
                out[f"{prefix}_{k}" if prefix != "TimeCreated" or k != "SystemTime" else prefix] = v
        if "#text" in value:
            out[prefix] = value["#text"]
        for k, v in value.items():
            if k not in ("#attributes", "#text"):
                _attrs(v, f"{prefix}_{k}", out)
    else:
        out[prefix] = value


def flatten_event(event: dict[str, Any]) -> dict[str, Any]:
    """One event in any supported shape -> flat raw Windows fields."""
    out: dict[str, Any] = {}
    if isinstance(event.get("Event"), dict):
        event = event["Event"]
    system, data = event.get("System"), event.get("EventData")
    if isinstance(system, dict):
        for k, v in system.items():
            _attrs(v, k, out)
        if isinstance(data, dict):
            for k, v in data.items():
                if k != "#attributes":
                    _attrs(v, k, out)
        elif data is not None:
            out["EventData"] = data
        user_data = event.get("UserData")
        if isinstance(user_data, dict):
            for inner in user_data.values():
                if isinstance(inner, dict):
                    for k, v in inner.items():
                        if k != "#attributes":
                            _attrs(v, k, out)
        return out
    winlog = event.get("winlog")
    if isinstance(winlog, dict):  # Winlogbeat
        out.update({k: v for k, v in (winlog.get("event_data") or {}).items()})
        out["EventID"] = winlog.get("event_id")
        out["Channel"] = winlog.get("channel")
        out["Computer"] = winlog.get("computer_name")
        out["TimeCreated"] = event.get("@timestamp")
        return out
    return dict(event)  # already flat


def normalise(flat: dict[str, Any]) -> dict[str, str | None]:
    """Raw columns as text plus the normalised columns."""
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
