"""Per-part readers of an OOXML package: metadata, visible text, Excel external links and cell DDE."""

from __future__ import annotations

import re
from xml.etree import ElementTree as ET

from aptcatch.capture.context import ArtifactContext
from aptcatch.capture.formats import ooxml_dde, ooxml_xlsb
from aptcatch.capture.formats.ooxml_xml import Package, attr, iter_local, local

MAX_TEXT = 100_000
"""Most characters of visible text taken from one document."""

_CORE = {
    "creator": "author",
    "lastModifiedBy": "last_saved_by",
    "created": "created",
    "modified": "modified",
    "lastPrinted": "last_printed",
    "revision": "revision",
    "title": "title",
    "subject": "subject",
    "keywords": "keywords",
    "description": "description",
    "category": "category",
}
_APP = {
    "Application": "application",
    "AppVersion": "app_version",
    "Company": "company",
    "Template": "template",
    "TotalTime": "total_edit_time_minutes",
    "Manager": "manager",
    "Pages": "pages",
}


def metadata(ctx: ArtifactContext, pkg: Package) -> str | None:
    """docProps/core.xml and app.xml → ctx.meta; returns the app.xml Template (or None)."""
    template: str | None = None
    for part, table in (("docProps/core.xml", _CORE), ("docProps/app.xml", _APP)):
        if not pkg.has(part):
            continue
        root = pkg.xml(part)
        if root is None:
            continue
        for el in root:
            key = table.get(local(el.tag))
            text = (el.text or "").strip()
            if key and text:
                ctx.meta(key, text[:1000])
                if key == "template":
                    template = text
    return template


class TextSink:
    """Collects visible text up to MAX_TEXT characters, then hands it to ctx.text once."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0

    @property
    def full(self) -> bool:
        return self.size >= MAX_TEXT

    def add(self, text: str) -> None:
        if text and not self.full:
            text = text[: MAX_TEXT - self.size]
            self.parts.append(text)
            self.size += len(text)

    def flush(self, ctx: ArtifactContext) -> None:
        text = "".join(self.parts).strip()
        text = re.sub(r"\n{3,}", "\n\n", text)
        if text:
            ctx.text(text, "document")


def paragraphs(root: ET.Element, sink: TextSink, para: str = "p", run_text: str = "t") -> None:
    """Text of WordprocessingML (w:p/w:t) or DrawingML (a:p/a:t) paragraphs."""
    for p in root.iter():
        if sink.full:
            return
        if local(p.tag) != para:
            continue
        pieces: list[str] = []
        for el in p.iter():
            name = local(el.tag)
            if name == run_text and el.text:
                pieces.append(el.text)
            elif name == "tab":
                pieces.append("\t")
            elif name in ("br", "cr"):
                pieces.append("\n")
        line = "".join(pieces)
        if line.strip():
            sink.add(line + "\n")


def word(ctx: ArtifactContext, pkg: Package, sink: TextSink) -> None:
    """DDE fields of every story part, text of the main document."""
    stories = [
        i.filename
        for i in pkg.infos
        if re.match(
            r"(?i)^word/(glossary/)?(document|header\d*|footer\d*|footnotes|endnotes|comments)\.xml$",
            i.filename,
        )
    ]
    for part in sorted(stories, key=lambda n: (not n.lower().endswith("word/document.xml"), n)):
        root = pkg.xml(part)
        if root is None:
            continue
        ooxml_dde.analyze_word_part(ctx, root, part)
        if part.lower() == "word/document.xml":
            paragraphs(root, sink)


def external_links(ctx: ArtifactContext, pkg: Package) -> None:
    """DDE and OLE links of xl/externalLinks/externalLink*.xml|bin."""
    for info in pkg.infos:
        low = info.filename.lower()
        if not re.match(r"^xl/externallinks/[^/]+\.(xml|bin)$", low):
            continue
        if low.endswith(".bin"):
            data = pkg.read(info.filename)
            if not data:
                continue
            for sbt, strs in ooxml_xlsb.sup_books(data):
                if sbt == 1 and strs:
                    ooxml_dde.report(ctx, "ddeLink", " ".join(strs), info.filename)
                elif sbt == 2 and strs:
                    ctx.meta("ole_link_progid", strs[-1][:200])
            continue
        root = pkg.xml(info.filename)
        if root is None:
            continue
        for el in iter_local(root, "ddeLink"):
            service = el.get("ddeService") or ""
            topic = el.get("ddeTopic") or ""
            ooxml_dde.report(ctx, "ddeLink", f"{service} {topic}", info.filename)
        for el in iter_local(root, "oleLink"):
            prog = el.get("progId") or ""
            if prog:
                ctx.meta("ole_link_progid", prog[:200])


_F_TAG = re.compile(rb"<(?:\w+:)?f\b[^>]*>([^<]{1,8000})</(?:\w+:)?f>")


def worksheet_formulas(ctx: ArtifactContext, pkg: Package, budget: int = 64 * 1024 * 1024) -> None:
    """DDE formulas typed into ordinary worksheet cells (xlsx/xlsm)."""
    spent = 0
    for info in pkg.infos:
        low = info.filename.lower()
        if not re.match(r"^xl/worksheets/[^/]+\.xml$", low) or spent + info.file_size > budget:
            continue
        spent += info.file_size
        data = pkg.read(info.filename, budget)
        if not data or b"|" not in data:
            continue
        text = "\n".join(m.group(1).decode("utf-8", "replace") for m in _F_TAG.finditer(data))
        text = text.replace("&apos;", "'").replace("&quot;", '"').replace("&amp;", "&")
        ooxml_dde.scan_formulas(ctx, text, info.filename)


def shared_strings(ctx: ArtifactContext, pkg: Package, sink: TextSink) -> None:
    if pkg.has("xl/sharedStrings.xml"):
        root = pkg.xml("xl/sharedStrings.xml")
        if root is None:
            return
        for si in iter_local(root, "si"):
            if sink.full:
                break
            text = "".join(t.text or "" for t in si.iter() if local(t.tag) == "t")
            if text.strip():
                sink.add(text + "\n")
    elif pkg.has("xl/sharedStrings.bin"):
        data = pkg.read("xl/sharedStrings.bin")
        for rtype, rec in ooxml_xlsb.records(data or b""):
            if sink.full:
                break
            if rtype == 0x13 and len(rec) >= 5:  # BrtSSTItem: flags, XLWideString
                try:
                    item, _ = ooxml_xlsb.wide_string(rec, 1)
                except ooxml_xlsb.Biff12Error:
                    continue
                if item and item.strip():
                    sink.add(item + "\n")


def slides(ctx: ArtifactContext, pkg: Package, sink: TextSink) -> None:
    """Slide text; ppaction://program actions (mouse-over/click runs a program)."""
    names = [i.filename for i in pkg.infos if re.match(r"(?i)^ppt/slides/slide\d+\.xml$", i.filename)]
    names.sort(key=lambda n: int(re.sub(r"\D", "", n.rsplit("/", 1)[-1]) or 0))
    for part in names[:2000]:
        root = pkg.xml(part)
        if root is None:
            continue
        paragraphs(root, sink)
        for el in root.iter():
            if local(el.tag) in ("hlinkClick", "hlinkMouseOver"):
                action = (attr(el, "action") or "").lower()
                if action.startswith("ppaction://program"):
                    ctx.finding("ooxml.ppt_program_action", f"{part}: {local(el.tag)} {action}")
