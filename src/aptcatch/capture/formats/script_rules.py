"""Pattern tables for scripts and command lines, as data: which text means which finding.

Each ``Rule`` names the finding it raises (``capture/data/findings/payload.toml`` holds severity, weight
and ATT&CK techniques), the regular expressions that must all match, and the script types it applies to
(``None``: every script type). ``script.py`` evaluates the tables; composite findings (download and
execute, dynamic evaluation of decoded strings, HTML smuggling) are combined there from the facts below.
Patterns are written to stay quiet on ordinary web pages: browser ``XMLHttpRequest``/``fetch``, jQuery's
``Microsoft.XMLHTTP`` fallback and plain ``eval`` are not signals by themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aptcatch.capture.types import FileType

F = FileType
WEB = frozenset({F.HTML})
NOT_WEB = frozenset({F.HTA, F.JS, F.VBS, F.POWERSHELL, F.BATCH, F.WSF, F.SCT})
COM_SCRIPTS = frozenset({F.HTA, F.JS, F.VBS, F.WSF, F.SCT, F.HTML})


@dataclass(frozen=True)
class Rule:
    fid: str
    patterns: tuple[re.Pattern[str], ...]
    types: frozenset[FileType] | None = None
    label: str = ""


def _r(*patterns: str) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p, re.I) for p in patterns)


# --- facts used by composite findings ---------------------------------------------------------------------

EXEC = _r(
    r"\bWScript\.Shell\b[\s\S]{0,4000}?\.\s*(?:Run|Exec)\b",
    r"\.\s*ShellExecute\b",
    r"\bStart-Process\b|\bsaps\s",
    r"\bInvoke-Item\b",
    r"\bcmd(?:\.exe)?[\"']?\s+/[ck]\s",
    r"\bWin32_Process\b[\s\S]{0,400}?\bCreate\b",
    r"\bShell\s*\(\s*[\"'][^\"']*(?:cmd|powershell|mshta|\.exe)",
    r"(?:^|&&?|\|\||\s)start\s+(?:/\w+\s+|\"[^\"]*\"\s+)*[^\s&|]+\.(?:cmd|bat|exe|vbs|js|jse|hta|ps1|dll|scr)\b",
)
EVAL = _r(
    r"(?<![\w.])eval\s*\(",
    r"(?<![\w.])Execute(?:Global)?\b\s*[\(\"\w]",
    r"\bIEX\b|Invoke-Expression",
    r"\bnew\s+Function\s*\(",
    r"\[ScriptBlock\]::Create\s*\(",
    r"\.\s*ExecuteStatement\b",
)
DECODE_PRIMITIVES = _r(
    r"\batob\s*\(",
    r"\bunescape\s*\(",
    r"\bdecodeURIComponent\s*\(",
    r"fromCharCode\s*\(",
    r"FromBase64String\s*\(",
    r"\bStrReverse\s*\(",
    r"\[char\]\s*\d",
    r"-bxor\b",
)
EVAL_OF_DECODED_WEB = re.compile(
    r"(?:(?<![\w.])eval|\bnew\s+Function|document\.write)\s*\(\s*(?:[\w$.]+\s*\(\s*)*"
    r"(?:window\.)?(?:atob|unescape|decodeURIComponent|String\.fromCharCode)\s*\(",
    re.I,
)
DOWNLOAD = _r(
    r"\b(?:MSXML2|Microsoft)\.(?:Server)?XMLHTTP\b",
    r"\bWinHttp\.WinHttpRequest\b",
    r"Net\.WebClient\b|\.Download(?:String|File|Data)(?:Async)?\s*\(",
    r"\bInvoke-WebRequest\b|\biwr\s|\bInvoke-RestMethod\b|\birm\s+https?:|\bStart-BitsTransfer\b",
    r"\bNet\.Http\.HttpClient\b",
    r"\bbitsadmin(?:\.exe)?\b[^\r\n]{0,200}/(?:transfer|addfile)",
    r"\bcertutil(?:\.exe)?\b[^\r\n]{0,200}[-/]urlcache",
    r"\bcurl(?:\.exe)?\s[^\r\n]{0,300}(?:\s-o\s|--output|\s-O\s)",
    r"\bwget(?:\.exe)?\s+[\"']?https?://",
    r"\bURLDownloadToFile\w*",
    r"\bGetObject\s*\(\s*[\"']script:",
)
DOWNLOAD_WEB_SAFE = frozenset({0, 1})
"""Indexes of DOWNLOAD patterns that are ordinary in web pages (legacy AJAX fallbacks)."""
BATCH_EXEC = re.compile(
    r"(?im)^\s*(?:start|call)\b|&&\s*(?:start\s+)?\S+\.(?:exe|dll|bat|cmd|vbs|js|hta|ps1)\b"
)

# --- plain rules ------------------------------------------------------------------------------------------

RULES: tuple[Rule, ...] = (
    Rule("script.write_file", _r(r"\bADODB\.Stream\b", r"\.SaveToFile\b"), label="ADODB.Stream SaveToFile"),
    Rule("script.write_file", _r(r"\[(?:System\.)?IO\.File\]::WriteAllBytes"), label="WriteAllBytes"),
    Rule(
        "script.write_file",
        _r(r"CreateTextFile\s*\(\s*[^)]{0,200}\.(?:bat|cmd|vbs|js|jse|ps1|hta|exe|dll)\b"),
        label="script file written",
    ),
    Rule(
        "script.persistence_run_key",
        _r(r"CurrentVersion\\{1,2}Run(?:Once)?(?:\b|\\)"),
        label="Run key",
    ),
    Rule(
        "script.persistence_startup",
        _r(
            r"Start Menu\\{1,2}Programs\\{1,2}Startup|shell:startup|SpecialFolders\s*\(\s*[\"']Startup"
            r"|SpecialFolder\]::Startup|GetFolderPath\(\s*[\"']?Startup"
        ),
        label="Startup folder",
    ),
    Rule(
        "script.scheduled_task",
        _r(r"\bschtasks(?:\.exe)?\b[^\r\n]{0,120}/create|Register-ScheduledTask|\bSchedule\.Service\b"),
        label="scheduled task",
    ),
    Rule(
        "script.powershell_evasion",
        _r(
            r"[-/](?:ex(?:ecutionpolicy|ec)?|ep)\s+[\"']?(?:bypass|unrestricted)\b"
            r"|Set-ExecutionPolicy\s+(?:Bypass|Unrestricted)"
        ),
        label="execution policy bypass",
    ),
    Rule(
        "script.hidden_window",
        _r(
            r"(?:^|\s)[-/]w(?:in(?:dow(?:style)?)?)?\s+[\"']?(?:hidden|hid|h|1)\b"
            r"|\.Run\b[^\r\n]{0,400},\s*0\s*(?:,|\)|$)|\bvbHide\b|ShellExecute\b[^\r\n]{0,400},\s*0\s*\)"
            r"|WindowStyle\s*=\s*[\"']?Hidden|CreateNoWindow\s*=\s*\$?true"
        ),
        label="hidden window",
    ),
    Rule(
        "script.amsi_bypass",
        _r(r"AmsiUtils|amsiInitFailed|AmsiScanBuffer|amsiContext|AmsiOpenSession"),
        label="AMSI",
    ),
    Rule(
        "script.defender_tamper",
        _r(
            r"Add-MpPreference\b[^\r\n]{0,120}-Exclusion|Set-MpPreference\b[^\r\n]{0,120}-Disable\w+"
            r"|DisableAntiSpyware|DisableRealtimeMonitoring\s+(?:\$true|1)"
        ),
        label="Defender",
    ),
    Rule(
        "script.reflective_load",
        _r(
            r"Reflection\.Assembly\]::Load\s*\(|\[AppDomain\]::CurrentDomain\.Load\s*\(|\.EntryPoint\.Invoke"
            r"|GetDelegateForFunctionPointer|Invoke-ReflectivePEInjection"
        ),
        label="in-memory load",
    ),
    Rule(
        "script.process_injection",
        _r(
            r"\bVirtual(?:Alloc|Protect)(?:Ex)?\b",
            r"\b(?:CreateThread|CreateRemoteThread|WriteProcessMemory|QueueUserAPC|RtlMoveMemory)\b",
        ),
        types=NOT_WEB,
        label="memory/thread APIs",
    ),
    Rule(
        "script.lolbin_proxy",
        _r(
            r"\bmshta(?:\.exe)?[\"']?\s+[\"']?(?:https?:|\\\\|javascript:|vbscript:|about:)"
            r"|\bregsvr32(?:\.exe)?\b[^\r\n]{0,200}/i:\s*[\"']?(?:https?:|\\\\)"
            r"|\brundll32(?:\.exe)?[\"']?\s+[^\r\n]{0,300}?(?:javascript:|url\.dll|zipfldr\.dll|ShellExec_RunDLL"
            r"|advpack\.dll|\\\\[\w.@-]+\\|,\s*#\d+)"
            r"|\brundll32(?:\.exe)?[\"']?\s+[\"']?[^\s,\"']+\.(?!dll\b|cpl\b)[a-z0-9]{2,4}[\"']?\s*,"
            r"|\brundll32(?:\.exe)?[\"']?\s+[\"']?(?:[a-z]:\\(?:programdata|users\\public|windows\\temp)\\"
            r"|%(?:temp|tmp|appdata|localappdata|programdata|public)%)"
            r"|\bcertutil(?:\.exe)?\b[^\r\n]{0,200}[-/](?:decode|decodehex)\b"
            r"|\bmsiexec(?:\.exe)?\b[^\r\n]{0,200}/(?:i|package)\s*[\"']?(?:https?:|\\\\)"
            r"|\bwmic(?:\.exe)?\b[^\r\n]{0,200}process\s+call\s+create"
            r"|\bforfiles(?:\.exe)?\b[^\r\n]{0,200}/c\s"
            r"|\bcmstp(?:\.exe)?\b[^\r\n]{0,100}/(?:s|au)\b"
            r"|\b(?:installutil|regasm|regsvcs|msbuild)(?:\.exe)?\b[^\r\n]{0,200}\.(?:dll|exe|xml|csproj|proj)\b"
            r"|\bhh(?:\.exe)?\s+[^\r\n]{0,100}(?:https?:|\\\\)"
        ),
        label="system binary proxy",
    ),
    Rule(
        "script.html_active_content",
        _r(
            r"(?:ActiveXObject|CreateObject|GetObject)\s*\(\s*[\"'](?:WScript\.\w+|Shell\.Application"
            r"|Scripting\.FileSystemObject|ADODB\.Stream|Schedule\.Service|WbemScripting\.\w+)"
        ),
        types=frozenset({F.HTML, F.HTA}),
        label="COM object",
    ),
)

OBFUSCATION = _r(
    r"(?:\.replace\s*\([^()]{0,80}\)\s*){4,}",
    r"Replace\s*\(\s*Replace\s*\(\s*Replace\s*\(",
    r"\.split\s*\(\s*[\"']{2}\s*\)\s*\.reverse\s*\(\s*\)\s*\.join\s*\(",
    r"StrReverse\s*\(\s*\"[^\"]{20,}",
    r"\"(?:\{\d+\}){4,}\"\s*-f\s",
    r"(?:\w`){3,}\w",
    r"\[char\[\]\]\s*\(?\s*\d+\s*,\s*\d+",
    r"[a-z]%\d[a-z]",
    r"%\w+:~-?\d+(?:,-?\d+)?%",
)

# --- HTML smuggling and HTA -------------------------------------------------------------------------------

SMUGGLE_SAVE = re.compile(r"msSaveOrOpenBlob|msSaveBlob", re.I)
SMUGGLE_BLOB = re.compile(r"new\s+Blob\s*\(|new\s+File\s*\(\s*\[", re.I)
SMUGGLE_DATA = re.compile(r"\batob\s*\(|\bUint8Array\s*\(|fromCharCode|base64ToArrayBuffer|charCodeAt", re.I)
SMUGGLE_DROP = re.compile(
    r"\.download\s*=|\bdownload\s*=\s*[\"']|setAttribute\s*\(\s*[\"']download[\"']"
    r"|createObjectURL[\s\S]{0,600}?\.click\s*\(",
    re.I,
)
DATA_URI_DOWNLOAD = re.compile(
    r"<a\b[^>]{0,400}\bhref\s*=\s*[\"']data:application/(?:octet-stream|x-msdownload|zip|x-zip-compressed"
    r"|x-iso9660-image|vnd\.ms-|x-rar|hta)[^\"']{0,80};base64,[^>]{0,200}\bdownload\b"
    r"|<a\b[^>]{0,400}\bdownload\b[^>]{0,400}\bhref\s*=\s*[\"']data:application/",
    re.I,
)
HTA_HIDDEN = re.compile(
    r"<hta:application\b[^>]*?(?:windowstate\s*=\s*[\"']?minimize|showintaskbar\s*=\s*[\"']?no"
    r"|visible\s*=\s*[\"']?no)"
    r"|window\.resizeTo\s*\(\s*[01]\s*,\s*[01]\s*\)|window\.moveTo\s*\(\s*-\d{3,}",
    re.I,
)
SCT_REGISTRATION = re.compile(r"<registration\b[^>]*>", re.I)
SCT_ATTR = re.compile(r"(progid|classid)\s*=\s*[\"']([^\"']{1,200})[\"']", re.I)

# --- command lines (shortcut arguments, script one-liners) -----------------------------------------------

URL_OR_UNC = re.compile(
    r"(?:https?|ftp)://[^\s\"'<>]+|(?<![\w\\:])\\\\[\w.-]+(?:@ssl)?(?:@\d+)?\\[^\s\"'<>]+|(?<!\w)\\\\\d{1,3}(?:\.\d{1,3}){3}\\",
    re.I,
)
HIDDEN_ARG = re.compile(
    r"(?:^|\s)[-/]w(?:in(?:dow(?:style)?)?)?\s+[\"']?(?:hidden|hid|h|1|min\w*)\b|(?:^|\s)/min\b|\bvbHide\b",
    re.I,
)
CRADLE = re.compile(
    r"DownloadString|DownloadFile|DownloadData|Net\.WebClient|Invoke-WebRequest|\biwr\b|Invoke-RestMethod|\birm\b"
    r"|Start-BitsTransfer|bitsadmin[^\r\n]{0,100}/transfer|certutil[^\r\n]{0,100}-urlcache|XMLHTTP|WinHttpRequest"
    r"|\bcurl(?:\.exe)?\s|\bwget\s|GetObject\s*\(\s*[\"']script:",
    re.I,
)
CMD_OBFUSCATION = re.compile(
    r"(?:\w\^){3,}|%\w+:~-?\d+(?:,-?\d+)?%|(?:\w`){3,}|(?:[\"']\s*\+\s*[\"']\w{1,3}){4,}"
    r"|\$env:\w+\[\d+\]|-join\s*\(|\[char\]\s*\d+\s*\+",
    re.I,
)
