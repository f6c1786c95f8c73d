"""Compiled HTML Help (CHM) analyser: entries, start page, ShortCut commands, shell-object scripts.

pychm (chmlib) only opens CHM files by path. The sample is therefore handed to it through an
anonymous in-memory file (``memfd_create``; opened as ``/proc/self/fd/N``), so nothing touches the
disk. Where memfd is unavailable, a private ``TemporaryDirectory`` holds one file with a fixed name
(not derived from the sample), mode 0600, removed in ``finally`` -- the brief's allowance for
parsers that only take paths. Entry sizes are checked against the byte budgets *before* chmlib
decompresses them, because chmlib allocates the declared size.

The help pages and scripts are extracted as children (the script analysers read the HTML); this
module looks for what makes hh.exe run code: the HTML Help ActiveX ``ShortCut`` command, ITS protocol
references, shell objects in scripts, executable entries and a non-HTML start page (#SYSTEM).
"""

from __future__ import annotations

import os
import re
import struct
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from aptcatch.capture.analyzer import Analyzer
from aptcatch.capture.context import ArtifactContext
from aptcatch.capture.identify import identify
from aptcatch.capture.types import FileType

if TYPE_CHECKING:
    from aptcatch.capture.engine import ScanConfig

MAX_ENTRIES = 20_000
MAX_CHILDREN = 150
MAX_ENTRY = 32 * 1024 * 1024
MAX_SCAN = 4 * 1024 * 1024
PAGE_EXT = re.compile(r"(?i)\.(html?|hhc|hhk|xml|xsl|sct|js|vbs|vbe|jse|hta|wsf|txt|css)$")
RUNNABLE_EXT = re.compile(
    r"(?i)\.(exe|scr|com|pif|dll|cpl|ocx|lnk|vbs|vbe|jse|wsf|wsh|hta|bat|cmd|ps1|psm1|msi|jar|url|sct)$"
)
SKIP_EXT = re.compile(r"(?i)\.(png|gif|jpe?g|bmp|ico|css|woff2?|ttf|eot|svg)$")
RUNNABLE_TYPES = frozenset(
    {
        FileType.PE,
        FileType.LNK,
        FileType.VBS,
        FileType.HTA,
        FileType.WSF,
        FileType.BATCH,
        FileType.POWERSHELL,
        FileType.SCT,
        FileType.MSI,
        FileType.URL_SHORTCUT,
    }
)
HH_CLSID = re.compile(r"(?i)adb880a6-d8ff-11cf-9377-00aa003b7a11")
_OBJECT = re.compile(r"(?is)<object\b[^>]*>.*?(?:</object>|$)")
_PARAM = re.compile(r"(?is)<param\b([^>]*)>")
_ATTR = re.compile(r"""(?is)\b(name|value)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")
_ITS = re.compile(r"(?i)(?:\bmk:@MSITStore:|\bms-its:)[^\s\"'<>)]{1,300}|\bits:[^\s\"'<>)]{1,200}::")
_SHELL = re.compile(r"(?i)WScript\.Shell|Shell\.Application|\.ShellExecute\s*\(|WScript\.CreateObject")


@contextmanager
def _path_for(data: bytes) -> Iterator[str]:
    """A path chmlib can open, backed by memory when the platform allows."""
    memfd = getattr(os, "memfd_create", None)
    if memfd is not None and os.path.isdir("/proc/self/fd"):
        fd = memfd("aptcatch-chm", getattr(os, "MFD_CLOEXEC", 0))
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    with tempfile.TemporaryDirectory(prefix="aptcatch-chm-") as tmp:
        path = os.path.join(tmp, "item.chm")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            yield path
        finally:
            if os.path.exists(path):
                os.remove(path)


def _system_topic(blob: bytes) -> str:
    """The default topic (code 2) of the #SYSTEM file."""
    pos = 4
    for _ in range(200):
        if pos + 4 > len(blob):
            break
        code, length = struct.unpack_from("<HH", blob, pos)
        value = blob[pos + 4 : pos + 4 + length]
        if code == 2:
            return value.split(b"\x00", 1)[0].decode("cp1252", "replace").strip()
        pos += 4 + length
    return ""


def shortcut_commands(html: str) -> list[str]:
    """Item1 command lines of HTML Help ActiveX objects whose Command is ShortCut."""
    out: list[str] = []
    for obj in _OBJECT.finditer(html[:MAX_SCAN]):
        block = obj.group(0)
        if not HH_CLSID.search(block[:600]):
            continue
        params: dict[str, str] = {}
        for p in _PARAM.finditer(block):
            attrs = {
                m.group(1).lower(): m.group(2) or m.group(3) or m.group(4) or ""
                for m in _ATTR.finditer(p.group(1))
            }
            if "name" in attrs:
                params[attrs["name"].strip().lower()] = attrs.get("value", "")
        if params.get("command", "").strip().lower().startswith("shortcut"):
            out.append(params.get("item1", "").strip() or "(no Item1)")
        if len(out) >= 20:
            break
    return out


class ChmAnalyzer:
    name = "chm"
    types: frozenset[FileType] | None = frozenset({FileType.CHM})

    def analyze(self, ctx: ArtifactContext) -> None:
        from chm import chmlib

        ctx.finding("chm.compiled_html", f"{len(ctx.data)} bytes")
        with _path_for(ctx.data) as path:
            handle = chmlib.chm_open(path)
            if handle is None:
                ctx.error("parse", "chmlib cannot open the file (truncated or not a CHM)")
                return
            try:
                self._walk(ctx, chmlib, handle)
            finally:
                chmlib.chm_close(handle)

    def _walk(self, ctx: ArtifactContext, chmlib: Any, handle: Any) -> None:
        entries: list[Any] = []

        def collect(_h: Any, ui: Any, _c: Any) -> int:
            entries.append(ui)
            return 1 if len(entries) < MAX_ENTRIES else 2  # CHM_ENUMERATOR_CONTINUE / _SUCCESS

        chmlib.chm_enumerate(handle, chmlib.CHM_ENUMERATE_ALL, collect, None)
        if len(entries) >= MAX_ENTRIES:
            ctx.error("limit", f"more than {MAX_ENTRIES} CHM entries: the rest were not listed")
        files = [
            (ui.path.decode("utf-8", "replace"), ui)
            for ui in entries
            if ui.path.startswith(b"/") and not ui.path.endswith(b"/")
        ]
        user = [(p, ui) for p, ui in files if not p.startswith(("/#", "/$"))]
        ctx.meta("chm_entries", [f"{p} ({ui.length})" for p, ui in user[:200]])
        ctx.meta("chm_entry_count", len(user))

        def read(ui: Any, cap: int) -> bytes | None:
            if ui.length > cap:
                ctx.error("limit", f"CHM entry {ui.path!r} declares {ui.length} bytes, over {cap}")
                return None
            if ui.length == 0:
                return b""
            size, buf = chmlib.chm_retrieve_object(handle, ui, 0, ui.length)
            return bytes(buf[:size]) if buf is not None else None

        system = next((ui for p, ui in files if p == "/#SYSTEM"), None)
        topic = ""
        if system is not None:
            blob = read(system, 1024 * 1024)
            topic = _system_topic(blob or b"")
        if topic:
            ctx.meta("chm_default_topic", topic)

        # children: runnable entries and pages first, pictures and style sheets skipped
        def order(item: tuple[str, Any]) -> int:
            p = item[0]
            return 0 if RUNNABLE_EXT.search(p) else 1 if PAGE_EXT.search(p) else 2

        extracted = 0
        for path, ui in sorted(user, key=order):
            if SKIP_EXT.search(path) and ui.length < 256 * 1024:
                head = read(ui, 256 * 1024) or b""
                if identify(head, path) in (FileType.IMAGE, FileType.TEXT, FileType.EMPTY):
                    continue  # small genuine pictures and style sheets are not worth a child
            if extracted >= MAX_CHILDREN:
                ctx.error("limit", f"more than {MAX_CHILDREN} CHM entries to extract: the rest skipped")
                break
            budget = min(MAX_ENTRY, ctx.limits.max_child_size)
            data = read(ui, budget)
            if data is None:
                continue
            name = path.lstrip("/")
            self._inspect(ctx, name, data, topic)
            if data:
                extracted += 1
                ctx.child(name, data)

    def _inspect(self, ctx: ArtifactContext, name: str, data: bytes, topic: str) -> None:
        ftype = identify(data, name)
        runnable = ftype in RUNNABLE_TYPES or bool(RUNNABLE_EXT.search(name))
        if runnable:
            ctx.finding("chm.executable_entry", f"{name} ({ftype.value}, {len(data)} bytes)")
            if topic and topic.lstrip("/").lower() == name.lower():
                ctx.finding("chm.default_topic_executable", f"start page {topic!r} is {ftype.value}")
        elif (
            topic
            and topic.lstrip("/").lower() == name.lower()
            and not PAGE_EXT.search(name)
            and ftype not in (FileType.HTML, FileType.TEXT, FileType.XML, FileType.IMAGE)
        ):
            ctx.finding("chm.default_topic_executable", f"start page {topic!r} is {ftype.value}")
        if ftype is FileType.PE or (len(data) > MAX_SCAN and not PAGE_EXT.search(name)):
            return
        text = data[:MAX_SCAN].decode("cp1252", "replace")
        if "<" in text:
            for cmd in shortcut_commands(text):
                ctx.finding("chm.shortcut_command", f"{name}: {cmd[:300]}")
                ctx.indicators_from_text(cmd, "chm shortcut command")
        for m in list(_ITS.finditer(text))[:5]:
            ctx.finding("chm.its_reference", f"{name}: {m.group(0)[:200]}")
        shell = _SHELL.search(text)
        if shell:
            ctx.finding("chm.script_shell", f"{name}: {shell.group(0)}")


def analyzers(config: ScanConfig) -> list[Analyzer]:
    return [ChmAnalyzer()]
