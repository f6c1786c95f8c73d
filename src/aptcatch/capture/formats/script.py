"""Scripts and script-like files: HTML, HTA, JS/JSE, VBS/VBE, PowerShell, batch, WSF, SCT scriptlets,
Internet shortcuts (.url), Excel web queries (.iqy), and cheap indicator extraction for text children.

Scripts are read as text only: the pattern tables in ``script_rules.py`` say which text means which
finding; ``script_decode.py`` undoes the usual encodings (Script Encoder, PowerShell -EncodedCommand,
base64 blobs, character-code chains) within fixed bounds, one level deep, so that indicators and rules
also see the decoded text. A decoded PowerShell command or a blob that decodes to an executable, an
archive or a document becomes a child artifact. Nothing is ever evaluated.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import TYPE_CHECKING

from aptcatch.capture.context import ArtifactContext
from aptcatch.capture.formats import script_decode as dec
from aptcatch.capture.formats import script_rules as rules
from aptcatch.capture.identify import identify
from aptcatch.capture.types import ARCHIVE_TYPES, FileType
from aptcatch.model.scan import IndicatorType

if TYPE_CHECKING:
    from aptcatch.capture.analyzer import Analyzer
    from aptcatch.capture.engine import ScanConfig

F = FileType
SCRIPT_TYPES = frozenset({F.HTML, F.HTA, F.JS, F.VBS, F.POWERSHELL, F.BATCH, F.WSF, F.SCT})
MAX_SCRIPT_BYTES = 4 * 1024 * 1024
"""Only the first 4 MiB of a script are read as text."""
MAX_RULE_CHARS = 2 * 1024 * 1024
MAX_INDICATOR_CHARS = 1024 * 1024
MAX_TEXT_CHILD_CHARS = 1024 * 1024
MAX_VISIBLE_TEXT = 20_000
MAX_DECODED_CHILDREN = 4
PAYLOAD_TYPES = frozenset(
    {
        F.PE,
        F.ELF,
        F.LNK,
        F.OLE_DOC,
        F.OLE_XLS,
        F.OLE_PPT,
        F.OLE_OTHER,
        F.OLE_PACKAGE,
        F.MSI,
        F.PDF,
        F.RTF,
        F.OOXML_WORD,
        F.OOXML_EXCEL,
        F.OOXML_POWERPOINT,
        F.OOXML_OTHER,
        F.ONENOTE,
        F.CHM,
    }
    | ARCHIVE_TYPES
)
SCRIPTISH = frozenset({F.HTA, F.JS, F.VBS, F.POWERSHELL, F.BATCH, F.WSF, F.SCT, F.HTML})


def decode_text(data: bytes, limit: int = MAX_SCRIPT_BYTES) -> str:
    """Text of a script: BOM-aware, UTF-16 without BOM recognised, otherwise UTF-8 with replacement."""
    head = data[:limit]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", errors="replace")
    if len(head) >= 8 and head[1:64:2].count(0) > 24 and head[0:64:2].count(0) < 4:
        return head.decode("utf-16-le", errors="replace")
    return head.decode("utf-8", errors="replace").lstrip("\ufeff")


def _snippet(text: str, width: int = 160) -> str:
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def _first(
    patterns: tuple[re.Pattern[str], ...], text: str, skip: frozenset[int] = frozenset()
) -> str | None:
    for i, p in enumerate(patterns):
        if i in skip:
            continue
        m = p.search(text)
        if m:
            return m.group(0)
    return None


class _VisibleText(HTMLParser):
    """Visible text of a page: everything outside script/style, bounded."""

    def __init__(self, limit: int) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.size = 0
        self.limit = limit
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "template", "noscript"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "template", "noscript") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if self._skip or self.size >= self.limit:
            return
        chunk = data.strip()
        if chunk:
            self.parts.append(chunk)
            self.size += len(chunk) + 1


def visible_text(html: str, limit: int = MAX_VISIBLE_TEXT) -> str:
    parser = _VisibleText(limit)
    try:
        parser.feed(html[: limit * 20])
        parser.close()
    except Exception:  # HTMLParser is lenient; be safe on pathological input
        pass
    return " ".join(parser.parts)[:limit]


class ScriptAnalyzer:
    """Pattern tables, decoders and indicators for every script language."""

    name = "script"
    types: frozenset[FileType] | None = SCRIPT_TYPES

    def analyze(self, ctx: ArtifactContext) -> None:
        text = decode_text(ctx.data)
        if len(ctx.data) > MAX_SCRIPT_BYTES:
            ctx.error("limit", f"only the first {MAX_SCRIPT_BYTES} bytes of the script were analysed")
        t = ctx.type
        extra: list[str] = []  # decoded text analysed together with the script

        # Script Encoder (.vbe/.jse, or encoded blocks inside HTML/WSF/ASP)
        if "#@~^" in text:
            blocks = dec.decode_screnc(text)
            if blocks:
                ctx.finding("script.screnc_encoded", f"{len(blocks)} encoded block(s) decoded")
                ctx.meta("screnc_blocks", len(blocks))
                extra.extend(blocks)

        # PowerShell -EncodedCommand: decoded commands become children (analysed as PowerShell)
        self._encoded_powershell(ctx, text + "\n" + "\n".join(extra))

        # character-code chains and long base64 blobs
        chars = [s for s in dec.decode_charcodes(text) if len(s) >= 4]
        if sum(len(s) for s in chars) >= 10 or dec.count_chr_calls(text) >= 12:
            ctx.finding("script.obfuscated_strings", "character codes: " + _snippet(" | ".join(chars), 200))
            extra.extend(chars)
        extra.extend(self._blobs(ctx, text, t))
        hexed = dec.decode_hex_strings(text)
        if hexed:
            ctx.finding("script.obfuscated_strings", "hex-encoded text: " + _snippet(hexed[0], 160))
            extra.extend(hexed)
        if t is F.BATCH or ("%" in text[:65536] and ctx.name.lower().endswith((".bat", ".cmd"))):
            cleaned, removed = dec.strip_batch_noise(text)
            if removed >= 10:
                ctx.finding("script.obfuscated_strings", f"{removed} references to unset batch variables")
                extra.append(cleaned)

        full = text[:MAX_RULE_CHARS] + ("\n" + "\n".join(extra) if extra else "")
        self._rules(ctx, full, t)
        self._specifics(ctx, text, full, t)

        ctx.indicators_from_text(text[:MAX_INDICATOR_CHARS], "script")
        if extra:
            ctx.indicators_from_text("\n".join(extra)[:MAX_INDICATOR_CHARS], "decoded script content")
        if t in (F.HTML, F.HTA) and self._records_text(ctx):
            ctx.text(visible_text(text), "document")

    # -- pieces ----------------------------------------------------------------------------------------
    def _encoded_powershell(self, ctx: ArtifactContext, text: str) -> None:
        commands = dec.powershell_encoded_commands(text)
        if not commands:
            return
        ctx.finding("script.encoded_powershell", "decoded: " + _snippet(commands[0], 200))
        for i, cmd in enumerate(commands[:MAX_DECODED_CHILDREN]):
            ctx.child(f"encoded command {i + 1} (decoded)", cmd.encode("utf-8"), F.POWERSHELL)

    def _blobs(self, ctx: ArtifactContext, text: str, t: FileType) -> list[str]:
        decoded_text: list[str] = []
        children = 0
        for head, raw in dec.base64_blobs(text):
            kind = identify(raw[: 1024 * 1024] if len(raw) > 1024 * 1024 else raw, "")
            if kind in PAYLOAD_TYPES:
                ctx.finding("script.embedded_payload", f"base64 blob {head}... decodes to {kind.value}")
                if children < MAX_DECODED_CHILDREN:
                    ctx.child(f"base64 blob {children + 1} ({kind.value})", raw)
                    children += 1
                continue
            as_text = dec.decode_utf16_command(raw[: 256 * 1024])
            if as_text is not None:
                if kind in SCRIPTISH:
                    ctx.finding(
                        "script.embedded_payload", f"base64 blob {head}... decodes to {kind.value} text"
                    )
                decoded_text.append(as_text)
            elif t is not F.HTML:
                ctx.finding("script.base64_blob", f"{len(raw)} bytes of binary data in base64 ({head}...)")
        return decoded_text

    def _rules(self, ctx: ArtifactContext, full: str, t: FileType) -> None:
        for rule in rules.RULES:
            if rule.types is not None and t not in rule.types:
                continue
            hit = ""
            for p in rule.patterns:
                m = p.search(full)
                if m is None:
                    hit = ""
                    break
                hit = hit or m.group(0)
            if hit:
                ctx.finding(rule.fid, f"{rule.label}: {_snippet(hit)}")

        web = t is F.HTML
        exec_hit = None if t is F.BATCH or web else _first(rules.EXEC, full)
        if web:
            exec_hit = _first(rules.EXEC[:2], full)  # WScript.Shell / ShellExecute only
        if exec_hit:
            ctx.finding("script.shell_execution", _snippet(exec_hit))

        eval_hit = _first(rules.EVAL, full)
        obf_hit = _first(rules.OBFUSCATION, full)
        if obf_hit:
            ctx.finding("script.obfuscated_strings", _snippet(obf_hit))
        if web:
            m = rules.EVAL_OF_DECODED_WEB.search(full)
            if m:
                ctx.finding("script.dynamic_eval", _snippet(m.group(0)))
        elif eval_hit and (
            obf_hit
            or _first(rules.DECODE_PRIMITIVES, full)
            or ctx.has_finding("script.obfuscated_strings")
            or ctx.has_finding("script.encoded_powershell")
        ):
            ctx.finding("script.dynamic_eval", _snippet(eval_hit))

        dl_hit = _first(rules.DOWNLOAD, full, rules.DOWNLOAD_WEB_SAFE if web else frozenset())
        if dl_hit:
            ctx.finding("script.download", _snippet(dl_hit))
            runs = (
                exec_hit
                or (eval_hit and not web)
                or ctx.has_finding("script.lolbin_proxy")
                or (t is F.BATCH and rules.BATCH_EXEC.search(full))
                or re.search(r"(?i)GetObject\s*\(\s*[\"']script:", dl_hit)
            )
            if runs:
                ctx.finding("script.download_execute", _snippet(dl_hit))

    def _specifics(self, ctx: ArtifactContext, text: str, full: str, t: FileType) -> None:
        if t is F.HTA:
            ctx.finding("script.hta_application", "HTML Application")
        if t in (F.HTA, F.HTML):
            m = rules.HTA_HIDDEN.search(text)
            if m and (t is F.HTA or "<hta:application" in text.lower()):
                ctx.finding("script.hta_hidden_window", _snippet(m.group(0)))
        if t is F.SCT:
            reg = rules.SCT_REGISTRATION.search(text)
            if reg and re.search(r"(?i)<\s*script\b", text):
                attrs = dict((k.lower(), v) for k, v in rules.SCT_ATTR.findall(reg.group(0)))
                for k, v in attrs.items():
                    ctx.meta(f"sct_{k}", v)
                ctx.finding("script.sct_scriptlet", _snippet(reg.group(0)))
        if t in rules.COM_SCRIPTS:
            self._smuggling(ctx, full)

    def _smuggling(self, ctx: ArtifactContext, full: str) -> None:
        m = rules.DATA_URI_DOWNLOAD.search(full)
        if m:
            ctx.finding("script.html_smuggling", "data: URI download link: " + _snippet(m.group(0), 120))
            return
        save = rules.SMUGGLE_SAVE.search(full)
        blob = rules.SMUGGLE_BLOB.search(full)
        data = rules.SMUGGLE_DATA.search(full) or ctx.has_finding("script.embedded_payload")
        drop = rules.SMUGGLE_DROP.search(full)
        how = save or drop
        if blob and data and how is not None:
            ctx.finding(
                "script.html_smuggling",
                f"Blob built from script data, saved via {_snippet(how.group(0), 80)}",
            )

    @staticmethod
    def _records_text(ctx: ArtifactContext) -> bool:
        parent = ctx.parent_type
        return parent is None or (ctx.depth <= 2 and parent in ARCHIVE_TYPES)


class ShortcutFileAnalyzer:
    """Internet shortcuts (.url) and Excel web queries (.iqy): tiny INI/line formats read by hand."""

    name = "script.shortcut"
    types: frozenset[FileType] | None = frozenset({F.URL_SHORTCUT, F.IQY})

    def analyze(self, ctx: ArtifactContext) -> None:
        text = decode_text(ctx.data, 256 * 1024)
        if ctx.type is F.IQY:
            self._iqy(ctx, text)
        else:
            self._url(ctx, text)

    @staticmethod
    def _url(ctx: ArtifactContext, text: str) -> None:
        values: dict[str, str] = {}
        for line in text.splitlines()[:2000]:
            key, sep, value = line.partition("=")
            if sep and key.strip():
                values.setdefault(key.strip().lower(), value.strip())
        url = values.get("url", "")
        icon = values.get("iconfile", "")
        for key in ("url", "iconfile", "workingdirectory", "baseurl"):
            if values.get(key):
                ctx.meta(f"url_{key}", values[key])
        remote = re.compile(
            r"(?i)^(?:file:|\\\\|//|search-ms:|search:|ms-[\w-]+:|smb:|webdav:)|@ssl\\|davwwwroot"
        )
        if url and remote.search(url):
            ctx.finding("script.url_shortcut_remote", f"URL={_snippet(url, 200)}")
        elif url and re.match(r"(?i)^https?://", url):
            ctx.finding("script.url_shortcut_web", f"URL={_snippet(url, 200)}")
        if icon and re.match(r"(?i)^(?:\\\\|file://|https?://)", icon):
            ctx.finding("script.url_shortcut_remote", f"remote icon: IconFile={_snippet(icon, 200)}")
        for key in ("url", "iconfile", "workingdirectory"):
            value = values.get(key, "")
            if value.startswith("\\\\") or re.match(r"(?i)^[a-z]:\\", value):
                ctx.indicator(IndicatorType.FILE_PATH, value, f"internet shortcut {key}")
        ctx.indicators_from_text(text[:MAX_INDICATOR_CHARS], "internet shortcut")

    @staticmethod
    def _iqy(ctx: ArtifactContext, text: str) -> None:
        lines = [ln.strip() for ln in text.splitlines()[:200] if ln.strip()]
        urls = [ln for ln in lines if re.match(r"(?i)^(?:https?|ftp|file)://|^\\\\", ln)]
        if urls:
            target = urls[0].split()[0]
            ctx.meta("iqy_url", target)
            ctx.finding("script.iqy_external_data", f"queries {_snippet(target, 200)}")
        ctx.indicators_from_text(text[:MAX_INDICATOR_CHARS], "web query")


class TextIndicatorAnalyzer:
    """Plain-text children (and text items): cheap, bounded indicator extraction only."""

    name = "script.text"
    types: frozenset[FileType] | None = frozenset({F.TEXT})

    def analyze(self, ctx: ArtifactContext) -> None:
        text = decode_text(ctx.data, MAX_TEXT_CHILD_CHARS)
        ctx.indicators_from_text(text, "text")


def analyzers(config: ScanConfig) -> list[Analyzer]:
    return [ScriptAnalyzer(), ShortcutFileAnalyzer(), TextIndicatorAnalyzer()]
