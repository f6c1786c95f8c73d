"""Windows field mappings through pySigma's sysmon + windows-logsource pipelines, on both evaluators.

The pipelines turn a generic log source (``category: process_creation``) into conditions on the
event (``Channel`` = Sysmon's, ``EventID`` = 1); on the per-shape Windows segments those fields are
segment constants, on flat JSON they are ordinary columns. Either way a rule fires only on its own
kind of event.
"""

from __future__ import annotations

from typing import Any

from .conftest import SYSMON, Hunter, win_event

SECURITY = "Security"
CMD = "C:\\Windows\\System32\\cmd.exe"
PROC_RULE = "sel:\n  Image|endswith: '\\cmd.exe'\n  CommandLine|contains: 'whoami'\ncondition: sel"


def _events() -> list[dict[str, Any]]:
    data = {"Image": CMD, "CommandLine": "cmd /c whoami", "ParentImage": "C:\\Windows\\explorer.exe"}
    return [
        win_event(data, 1, record=1),  # Sysmon process creation
        win_event({**data, "DestinationIp": "192.0.2.1"}, 3, record=2),  # Sysmon network connection
        win_event(data, 1, channel="Microsoft-Windows-Other/Operational", provider="Other", record=3),
        win_event(
            {"NewProcessName": CMD, "CommandLine": "cmd /c whoami"},
            4688,
            channel=SECURITY,
            provider="Microsoft-Windows-Security-Auditing",
            record=4,
        ),
        win_event({"TargetObject": "HKLM\\Software\\Run\\x", "Image": CMD}, 13, record=5),
        win_event({"TargetFilename": "C:\\x\\run.txt", "Image": CMD}, 11, record=6),
        win_event({"TargetUserName": "alice", "LogonType": 3}, 4624, channel=SECURITY, record=7),
    ]


def test_process_creation_fires_on_sysmon_1_only(hunter: Hunter) -> None:
    rules = {
        "proc": PROC_RULE,
        "reg": "title: reg\nstatus: test\nlogsource:\n  product: windows\n  category: registry_event\n"
        "detection:\n  sel:\n    Image|endswith: '\\cmd.exe'\n  condition: sel\n",
        "net": "title: net\nstatus: test\nlogsource:\n  product: windows\n  category: network_connection\n"
        "detection:\n  sel:\n    Image|endswith: '\\cmd.exe'\n  condition: sel\n",
        "logon": "title: logon\nstatus: test\nlogsource:\n  product: windows\n  service: security\n"
        "detection:\n  sel:\n    EventID: 4624\n    LogonType: 3\n  condition: sel\n",
    }
    hits = hunter.hits(rules, _events(), pipeline="windows")
    assert hits == {"proc": {0}, "reg": {4}, "net": {1}, "logon": {6}}


def test_pipeline_adds_channel_and_event_id_conditions(hunter: Hunter) -> None:
    rs = hunter.rules({"proc": PROC_RULE}, pipeline="windows")
    fields = set()
    stack = [rs.rules[0].expr]
    while stack:
        e = stack.pop()
        stack.extend(getattr(e, "items", ()))
        if hasattr(e, "field") and hasattr(e, "value"):
            fields.add((e.field, e.value))
    assert ("Channel", SYSMON.lower()) in fields
    assert ("EventID", "1") in fields
    assert rs.rules[0].logsource == {"product": "windows", "category": "process_creation"}


def test_without_a_pipeline_the_log_source_is_not_checked(hunter: Hunter) -> None:
    hits = hunter.hits({"proc": PROC_RULE}, _events(), pipeline="none")
    assert hits == {"proc": {0, 1, 2}}


def test_a_rule_for_another_kind_of_event_is_not_blind(tmp_path: Any, engine: str) -> None:
    """On per-shape segments a process_creation rule does not apply to network events at all."""
    h = Hunter(tmp_path, engine, "windows")
    only_net = [e for e in _events() if e["Event"]["System"]["EventID"] == 3]
    hits, run, _ = h.run({"parent": "sel:\n  OriginalFileName: 'x'\ncondition: sel"}, only_net, "windows")
    assert hits == {"parent": set()}
    assert run.applied == set()
    assert run.blind == {}
    hits, run, _ = h.run({"parent": "sel:\n  OriginalFileName: 'x'\ncondition: sel"}, _events(), "windows")
    assert run.applied == {0}
    assert run.blind == {0: frozenset({"OriginalFileName"})}


def test_event_id_with_qualifiers(hunter: Hunter) -> None:
    """EVTX writes some EventIDs with attributes (``{"#attributes": {"Qualifiers": …}, "#text": 7045}``)."""
    event = win_event({"ServiceName": "evil", "ImagePath": "C:\\x.exe"}, 7045, channel="System", record=1)
    event["Event"]["System"]["EventID"] = {"#attributes": {"Qualifiers": 16384}, "#text": 7045}
    rule = (
        "title: svc\nstatus: test\nlogsource:\n  product: windows\n  service: system\n"
        "detection:\n  sel:\n    EventID: 7045\n    ServiceName: 'EVIL'\n  condition: sel\n"
    )
    if hunter.reader == "flat":
        event["Event"]["System"]["EventID"] = 7045  # flat exports write the number
    assert hunter.hits({"svc": rule}, [event], pipeline="windows") == {"svc": {0}}
