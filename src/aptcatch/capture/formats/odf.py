"""OpenDocument packages (odt/ods/odp …): text, metadata, StarBasic macros and their event bindings,
DDE connections and formulas, embedded objects.

No maintained library exposes ODF macros and event bindings (odfpy targets document building), so the
package is read with zipfile and the DTD-refusing XML helper shared with the OOXML analyser.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from xml.etree import ElementTree as ET

from aptcatch.capture.analyzer import Analyzer
from aptcatch.capture.context import ArtifactContext
from aptcatch.capture.formats import ooxml_dde, ooxml_rels
from aptcatch.capture.formats.ooxml_parts import TextSink
from aptcatch.capture.formats.ooxml_xml import Package, attr, iter_local, local, meta_list
from aptcatch.capture.types import FileType

if TYPE_CHECKING:
    from aptcatch.capture.engine import ScanConfig

_META = {
    "initial-creator": "author",
    "creator": "last_saved_by",
    "creation-date": "created",
    "date": "modified",
    "print-date": "last_printed",
    "generator": "application",
    "title": "title",
    "subject": "subject",
    "keyword": "keywords",
    "editing-cycles": "revision",
    "editing-duration": "total_edit_time",
    "template": "template",
}
_AUTO_EVENTS = re.compile(
    r"(?i)(dom:load|office:load|onload|onnew|office:new|onviewcreated|onfocus|dom:focus|onstartapp|"
    r"onloadfinished|mouseover|mouse-over|onprepareviewclosing|on-focus)"
)
_SUSPICIOUS_BASIC = re.compile(
    r"(?i)\b(Shell\s*\(|CreateObject\s*\(|WScript\.|powershell|cmd(\.exe)?\s+/c|mshta|"
    r"com\.sun\.star\.ucb\.SimpleFileAccess|XMLHTTP|URLDownloadToFile|Environ\s*\(|"
    r"com\.sun\.star\.system\.SystemShellExecute|GetProcessServiceManager)"
)
MAX_BASIC = 8 * 1024 * 1024


class OdfAnalyzer:
    name = "odf"
    types: frozenset[FileType] | None = frozenset({FileType.ODF})

    def analyze(self, ctx: ArtifactContext) -> None:
        try:
            pkg = Package(ctx, ctx.data)
        except Exception as exc:  # zipfile raises a handful of types on damaged archives
            ctx.error("parse", f"not a readable ODF package: {type(exc).__name__}: {exc}"[:500])
            return
        mimetype = pkg.read("mimetype", 200)
        if mimetype:
            ctx.meta("content_type", mimetype.decode("ascii", "replace").strip())
        manifest = pkg.read("META-INF/manifest.xml", 8 * 1024 * 1024) or b""
        if b"encryption-data" in manifest:
            ctx.error("encrypted", "ODF package is password-protected; content not readable")
        self._meta(ctx, pkg)
        self._content(ctx, pkg)
        self._basic(ctx, pkg)
        self._objects(ctx, pkg)

    def _meta(self, ctx: ArtifactContext, pkg: Package) -> None:
        if not pkg.has("meta.xml"):
            return
        root = pkg.xml("meta.xml")
        if root is None:
            return
        for el in root.iter():
            key = _META.get(local(el.tag))
            if key and el.text and el.text.strip():
                ctx.meta(key, el.text.strip()[:1000])
            elif local(el.tag) == "template":
                href = attr(el, "href")
                if href:
                    ctx.meta("template", href[:1000])
                    if ooxml_rels.is_remote(href):
                        ooxml_rels.record_target(ctx, href, "ODF template")
                        ctx.finding("ooxml.remote_template", f"meta.xml template → {href}")

    def _content(self, ctx: ArtifactContext, pkg: Package) -> None:
        sink = TextSink()
        for part in ("content.xml", "styles.xml", "settings.xml"):
            if not pkg.has(part):
                continue
            root = pkg.xml(part)
            if root is None:
                continue
            self._events(ctx, root, part)
            self._links(ctx, root, part)
            if part == "content.xml":
                for el in root.iter():
                    if sink.full:
                        break
                    if local(el.tag) in ("p", "h"):
                        line = "".join(el.itertext())
                        if line.strip():
                            sink.add(line + "\n")
        sink.flush(ctx)

    def _events(self, ctx: ArtifactContext, root: ET.Element, part: str) -> None:
        for el in iter_local(root, "event-listener"):
            event = attr(el, "event-name") or ""
            macro = attr(el, "href") or attr(el, "macro-name") or ""
            if not macro:
                continue
            detail = f"{part}: {event} → {macro[:200]}"
            ctx.meta("odf_event_macro", detail)
            if _AUTO_EVENTS.search(event):
                ctx.finding("odf.macro_autoexec", detail)
            ooxml_rels.check_schemes(ctx, macro, part)
            if ooxml_rels.is_remote(macro):
                ooxml_rels.record_target(ctx, macro, f"ODF event {event}")

    def _links(self, ctx: ArtifactContext, root: ET.Element, part: str) -> None:
        n = 0
        for el in root.iter():
            name = local(el.tag)
            if name == "dde-connection-decl" or name == "dde-source":
                app = attr(el, "dde-application") or ""
                topic = attr(el, "dde-topic") or ""
                ooxml_dde.report(ctx, "ODF DDE", f"{app} {topic}", part)
            formula = attr(el, "formula")
            if formula and ("|" in formula or "DDE" in formula.upper()):
                ooxml_dde.scan_formulas(ctx, formula, part)
            href = attr(el, "href")
            if href and n < 2000 and not href.startswith(("#", "./", "Pictures/", "vnd.sun.star.script")):
                n += 1
                ooxml_rels.check_schemes(ctx, href, part)
                if name in ("object", "object-ole", "image", "section-source") and ooxml_rels.is_remote(href):
                    ooxml_rels.record_target(ctx, href, f"ODF {name} link in {part}")
                    ctx.finding("ooxml.external_reference", f"{part}: {name} → {href[:200]}")
                elif re.match(r"(?i)^(https?|ftp|file|\\\\)", href):
                    ooxml_rels.record_target(ctx, href, f"ODF hyperlink in {part}")

    def _basic(self, ctx: ArtifactContext, pkg: Package) -> None:
        modules: list[str] = []
        spent = 0
        for info in pkg.infos:
            low = info.filename.lower()
            if not low.startswith("basic/") or not low.endswith(".xml"):
                continue
            if low.endswith(("script-lb.xml", "script-lc.xml", "dialog-lb.xml", "dialog-lc.xml")):
                continue
            if spent + info.file_size > MAX_BASIC:
                ctx.error("limit", f"Basic modules exceed {MAX_BASIC} bytes; the rest are skipped")
                break
            spent += info.file_size
            root = pkg.xml(info.filename)
            if root is None or local(root.tag) != "module":
                continue
            code = root.text or ""
            if not code.strip():
                continue
            modules.append(info.filename)
            hits = sorted({m.group(1) for m in _SUSPICIOUS_BASIC.finditer(code)})
            if hits:
                ctx.finding("odf.macro_suspicious", f"{info.filename}: {', '.join(hits)[:300]}")
            if re.search(r"(?im)^\s*(sub|function)\s+(auto_?open|main_?load|onload|document_open)\b", code):
                ctx.meta("odf_auto_named_macro", info.filename)
            ctx.indicators_from_text(code[:MAX_BASIC], f"StarBasic module {info.filename}")
        if modules:
            ctx.meta("odf_basic_modules", meta_list(modules))
            ctx.finding("odf.basic_macro", ", ".join(modules[:10]))

    def _objects(self, ctx: ArtifactContext, pkg: Package) -> None:
        for info in pkg.infos:
            name = info.filename
            top = name.split("/", 1)[0]
            if re.fullmatch(r"(?i)Object[ _]?\d+", name) or top == "ObjectReplacements":
                data = pkg.read(name)
                if data:
                    if top != "ObjectReplacements":
                        ctx.finding("ooxml.embedded_object", name)
                    ctx.child(name, data, metadata={"odf_part": name})


def analyzers(config: ScanConfig) -> list[Analyzer]:
    return [OdfAnalyzer()]
