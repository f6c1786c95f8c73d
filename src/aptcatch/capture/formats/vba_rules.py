"""What VBA source does: a pure classifier from macro text to finding ids with evidence.

olevba's keyword lists say *that* ``Shell`` or ``Base64`` occurs; triage needs to know what the macro
does and when, so the source (plus olevba's de-obfuscated strings) is matched here against behaviour
rules that map to catalogue findings (``office.toml``). The rules are regular expressions over the text
with simple cheap de-obfuscation first (joined ``"a" & "b"`` literals, reversed ``StrReverse`` literals),
so that a command split over string pieces is still recognised. No state, no I/O: unit-testable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

MAX_TEXT = 4 * 1024 * 1024

# -- automatic triggers -------------------------------------------------------------------------
_AUTO_NAMES = (
    r"AutoExec|AutoOpen|Auto_Open|AutoNew|AutoClose|Auto_Close|AutoExit|DocumentOpen|DocumentBeforeClose|"
    r"Document_Open|Document_Close|Document_New|Document_BeforeClose|Document_ContentControlOnEnter|"
    r"Workbook_Open|Workbook_Activate|Workbook_Close|Workbook_BeforeClose|Workbook_Deactivate|"
    r"Workbook_WindowActivate|Workbook_SheetActivate|Auto_Activate|Auto_Deactivate|"
    r"App_DocumentOpen|App_WorkbookOpen|App_NewDocument|Presentation_Open|OnSlideShowPageChange"
)
_ACTIVEX_EVENTS = (
    r"Layout|Painted|Painting|GotFocus|LostFocus|MouseHover|MouseEnter|Resize|BeforeNavigate2|"
    r"DocumentComplete|NavigateComplete2|NavigateError|ProgressChange|StatusTextChange|"
    r"DownloadBegin|DownloadComplete|TitleChange|PropertyChange|OnConnecting|Change"
)
_SUB_DEF = re.compile(
    rf"(?im)^[ \t]*(?:(?:Public|Private|Friend|Static)\s+)*(?:Sub|Function)\s+"
    rf"((?:{_AUTO_NAMES})|\w+_(?:{_ACTIVEX_EVENTS}))\b"
)
_AUTO_ONLY = re.compile(rf"(?i)^(?:{_AUTO_NAMES})$")


def autoexec_triggers(source: str) -> list[str]:
    """Names of procedures that run without the user calling them (definitions only, not mentions)."""
    out: list[str] = []
    for m in _SUB_DEF.finditer(source[:MAX_TEXT]):
        name = m.group(1)
        if name.lower() not in (n.lower() for n in out):
            out.append(name)
    return out[:20]


_TRIGGER_NAME = re.compile(rf"(?i)^(?:{_AUTO_NAMES}|\w+_(?:{_ACTIVEX_EVENTS}))$")


def is_trigger_name(name: str) -> bool:
    """True when ``name`` is an automatic trigger (document event or ActiveX event, not *_Click)."""
    return bool(_TRIGGER_NAME.match(name))


def is_document_event(name: str) -> bool:
    """True for document/workbook events, False for ActiveX control events (``cpp_Layout``)."""
    return bool(_AUTO_ONLY.match(name))


# -- behaviour rules ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    fid: str
    pattern: re.Pattern[str]
    executes: bool = False
    """Counts as execution/download for the auto-exec combination."""


def _r(p: str) -> re.Pattern[str]:
    return re.compile(p, re.I | re.M)


RULES: tuple[Rule, ...] = (
    Rule(
        "vba.shell_exec",
        _r(
            r"(?<![\w])\[?(?:VBA\.|Interaction\.)?Shell[#$!]?\]?\s*(?:\(|[ \t]+[\"\w(\[])|WScript\.Shell|"
            r"Shell\.Application|ShellExecute[AW]?\b|\bWinExec\b|\bCreateProcess[AW]?\b|"
            r"\.Run\b[^\n]{1,300},\s*(?:0|vbHide)\s*(?:,\s*(?:True|False|0|1))?\s*$"
        ),
        True,
    ),
    Rule("vba.wmi_process", _r(r"Win32_Process(?:Startup)?\b|winmgmts[\s\S]{0,3000}?\.Create\s*[(\w]"), True),
    Rule("vba.powershell", _r(r"\bpowershell(?:\.exe)?\b|\bpwsh(?:\.exe)?\b"), True),
    Rule("vba.cmd", _r(r"\bcmd(?:\.exe)?\b\s*/[ckr]\b|\bcmd\.exe\b|%comspec%"), True),
    Rule("vba.lolbin_regsvr32", _r(r"\bregsvr32(?:\.exe)?\b"), True),
    Rule("vba.lolbin_mshta", _r(r"\bmshta(?:\.exe)?\b"), True),
    Rule("vba.lolbin_rundll32", _r(r"\brundll32(?:\.exe)?\b"), True),
    Rule(
        "vba.lolbin_certutil", _r(r"\bcertutil(?:\.exe)?\b.{0,80}?-(?:decode|urlcache|decodehex|split)"), True
    ),
    Rule("vba.lolbin_bitsadmin", _r(r"\bbitsadmin(?:\.exe)?\b|Start-BitsTransfer"), True),
    Rule("vba.lolbin_msiexec", _r(r"\bmsiexec(?:\.exe)?\b"), True),
    Rule(
        "vba.lolbin_other",
        _r(
            r"\b(?:wscript|cscript|msbuild|installutil|regasm|regsvcs|wmic|odbcconf|forfiles|msxsl|"
            r"cmstp|pcalua|mavinject|hh)\.exe\b|\b(?:wscript|cscript|wmic)\s+[\"/\w%]"
        ),
        True,
    ),
    Rule(
        "vba.downloader",
        _r(
            r"URLDownloadToFile[AW]?\b|\.DownloadFile\s*\(|DownloadString|Invoke-WebRequest|"
            r"(?:XMLHTTP|WinHttpRequest|ServerXMLHTTP)[\s\S]{0,4000}?(?:SaveToFile|\.responseBody|Put\s+#)|"
            r"(?:SaveToFile|responseBody)[\s\S]{0,4000}?(?:XMLHTTP|WinHttpRequest)"
        ),
        True,
    ),
    Rule(
        "vba.remote_xsl",
        _r(
            r"(?:Msxml2\.DOMDocument|Microsoft\.XMLDOM|FreeThreadedDOMDocument)[\s\S]{0,4000}?"
            r"\.Load\w*\s*\(?\s*\"?(?:https?:|\\\\)[\s\S]{0,4000}?\.transformNode"
        ),
        True,
    ),
    Rule(
        "vba.web_request",
        _r(r"XMLHTTP|WinHttp\.WinHttpRequest|InternetOpenUrl|InternetExplorer\.Application"),
    ),
    Rule(
        "vba.autostart_persistence",
        _r(
            r"CurrentVersion\\+Run(?:Once)?\b|Start Menu\\+Programs\\+Startup|"
            r"SpecialFolders\s*\(\s*\"Startup\"|\\Startup\\|Winlogon\\+(?:Shell|Userinit)"
        ),
        True,
    ),
    Rule(
        "vba.scheduled_task",
        _r(r"\bschtasks(?:\.exe)?\b|Schedule\.Service|RegisterTaskDefinition|New-ScheduledTask"),
        True,
    ),
    Rule("vba.registry_write", _r(r"\bRegWrite\b|\bRegSetValue(?:Ex)?[AW]?\b|\bRegCreateKey(?:Ex)?[AW]?\b")),
    Rule(
        "vba.security_downgrade",
        _r(
            r"AccessVBOM|VBAWarnings|DisableInternetFilesInPV|DisableAttachmentsInPV|DisableUnsafeLocationsInPV"
        ),
    ),
    Rule(
        "vba.office_persistence",
        _r(
            r"\bNormal\.dot[mx]?\b|\\XLSTART\\|PERSONAL\.XLS[BM]?\b|"
            r"CodeModule\.(?:AddFromString|InsertLines|AddFromFile)|VBComponents\.Import\b"
        ),
    ),
    Rule(
        "vba.anti_analysis",
        _r(
            r"RecentFiles\.Count|\bvmware|virtualbox|\bvbox(?:service|tray|guest)|SbieDll|\bcuckoo\b|"
            r"\bsandbox|wireshark|procmon|procexp|ollydbg|x64dbg|\bidaq|IsDebuggerPresent|"
            r"Win32_(?:BIOS|ComputerSystem|DiskDrive|VideoController)\b|Tasks\.Exists"
        ),
    ),
    Rule(
        "vba.dynamic_call",
        _r(
            r"\bCallByName\b|\bExecute(?:Global|Statement)?\s*\(|\bEval\s*\(|Application\.Run\s*\(?\s*[^\"\s(]"
        ),
    ),
)

_EXE_NAME = re.compile(
    r"(?i)[\w\\/%.-]+\.(?:exe|dll|scr|vbs|vbe|js|jse|hta|bat|cmd|ps1|wsf|sct|pif|com|cpl|jar|ocx)\b(?!\.)"
)
_FILE_WRITE = re.compile(
    r"(?i)CreateTextFile|SaveToFile|\bOpen\s+[^\n]{1,200}\s+For\s+(?:Binary|Output|Append)|\bPut\s+#|"
    r"\.WriteText\b|\bCopyFile\b|\bFileCopy\b"
)
_DECLARE = re.compile(
    r"(?im)^[ \t]*(?:(?:Public|Private)\s+)?Declare\s+(?:PtrSafe\s+)?(?:Function|Sub)\s+"
    r'(\w+)\s+Lib\s+"([^"]+)"'
    r'(?:\s+Alias\s+"([^"]+)")?'
)
_ALLOC = {"virtualalloc", "virtualallocex", "ntallocatevirtualmemory", "virtualprotect", "heapcreate"}
_COPY = {"rtlmovememory", "rtlcopymemory", "writeprocessmemory", "ntwritevirtualmemory", "copymemory"}
_RUN = {
    "createthread", "createremotethread", "queueuserapc", "ntcreatethreadex", "enumsystemlocalesa",
    "enumsystemlocalesw", "enumdateformatsa", "enumdateformatsw", "callwindowproca", "callwindowprocw",
    "enumresourcetypesa", "enumresourcetypesw", "setwindowshookexa", "setwindowshookexw", "enumwindows",
    "enumchildwindows", "enumtimeformatsa", "enumtimeformatsw",
}  # fmt: skip


@dataclass
class VbaVerdict:
    autoexec: list[str] = field(default_factory=list)
    hits: dict[str, list[str]] = field(default_factory=dict)
    """finding id → short evidence snippets."""
    declares: list[str] = field(default_factory=list)
    obfuscation: list[str] = field(default_factory=list)

    @property
    def executes(self) -> list[str]:
        exec_ids = {r.fid for r in RULES if r.executes} | {"vba.shellcode_runner"}
        return [fid for fid in self.hits if fid in exec_ids]


def simplify(text: str) -> str:
    """Cheap de-obfuscation: drop comment lines, join "a" & "b" literals, reveal StrReverse literals."""
    text = re.sub(r"(?im)^[ \t]*(?:'|Rem\s).*$", "", text)
    text = re.sub(r'"\s*(?:&|\+)\s*(?:_\s*\r?\n\s*)?"', "", text)

    def rev(m: re.Match[str]) -> str:
        return '"' + m.group(1)[::-1] + '"'

    return re.sub(r'(?i)StrReverse\s*\(\s*"([^"\n]*)"\s*\)', rev, text)


def _snippet(text: str, m: re.Match[str], width: int = 100) -> str:
    start = max(0, m.start() - 20)
    s = text[start : m.end() + width]
    s = re.sub(r"\s+", " ", s).strip()
    return s[:160]


def _declares(source: str) -> list[str]:
    out: list[str] = []
    for m in _DECLARE.finditer(source):
        out.append((m.group(3) or m.group(1)).strip())
    return out[:100]


def obfuscation_reasons(source: str, olevba_types: dict[str, int] | None = None) -> list[str]:
    """Why the code looks obfuscated (empty list: it does not). Thresholds keep ordinary macros out."""
    reasons: list[str] = []
    types = olevba_types or {}
    size_kb = max(len(source) / 1024, 1.0)
    if types.get("Dridex string", 0):
        reasons.append(f"{types['Dridex string']} Dridex-encoded strings")
    if types.get("VBA string", 0) >= 3:
        reasons.append(f"{types['VBA string']} strings built from VBA expressions")
    if types.get("Hex String", 0) >= 3:
        reasons.append(f"{types['Hex String']} hex-encoded strings")
    if types.get("Base64 String", 0) >= 5:
        reasons.append(f"{types['Base64 String']} Base64-encoded strings")
    n_chr = len(re.findall(r"(?i)\bChr[BW]?\$?\s*\(", source))
    if n_chr >= 20 and n_chr / size_kb >= 1.0:
        reasons.append(f"{n_chr} Chr() calls")
    n_rev = len(re.findall(r"(?i)\bStrReverse\s*\(", source))
    if n_rev >= 2:
        reasons.append(f"{n_rev} StrReverse() calls")
    n_repl = len(re.findall(r"(?i)\bReplace\s*\(", source))
    if n_repl >= 10 and n_repl / size_kb >= 1.0:
        reasons.append(f"{n_repl} Replace() calls")
    longest = max((len(m.group(0)) for m in re.finditer(r'"[^"\n]{300,}"', source)), default=0)
    if longest >= 500:
        reasons.append(f"string literal of {longest} characters")
    lines = [ln for ln in source.splitlines() if ln.strip() and not ln.lstrip().startswith("'")]
    if lines:
        concat = sum(1 for ln in lines if ln.count("&") + ln.count(" + ") >= 3)
        if len(lines) >= 20 and concat / len(lines) >= 0.3:
            reasons.append(f"{concat} of {len(lines)} lines are string concatenations")
        longest_line = max(len(ln) for ln in lines)
        if longest_line >= 2000:
            reasons.append(f"line of {longest_line} characters")
    return reasons


def classify(
    source: str, decoded: Iterable[str] = (), olevba_types: dict[str, int] | None = None
) -> VbaVerdict:
    """Findings for VBA ``source`` plus de-obfuscated strings (olevba's decoded strings, revealed code)."""
    source = source[:MAX_TEXT]
    extra = "\n".join(decoded)[:MAX_TEXT]
    plain = simplify(source)
    text = plain + "\n" + extra
    v = VbaVerdict(autoexec=autoexec_triggers(source))
    for rule in RULES:
        m = rule.pattern.search(text)
        if m:
            v.hits.setdefault(rule.fid, []).append(_snippet(text, m))
    if "vba.downloader" in v.hits:
        v.hits.pop("vba.web_request", None)
    # file drops: file output plus an executable/script name in the same code
    w = _FILE_WRITE.search(text)
    exe = _EXE_NAME.search(text)
    if w and exe:
        v.hits["vba.drops_file"] = [f"{_snippet(text, w, 40)} … {exe.group(0)[:80]}"]
    v.declares = _declares(source)
    names = {d.lower() for d in v.declares}
    alloc, copy, run = names & _ALLOC, names & _COPY, names & _RUN
    if alloc and (copy or run):
        v.hits["vba.shellcode_runner"] = [", ".join(sorted(alloc | copy | run))]
    elif v.declares:
        v.hits["vba.win_api"] = [", ".join(v.declares[:10])]
    v.obfuscation = obfuscation_reasons(source, olevba_types)
    return v
