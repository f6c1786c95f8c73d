"""OPC relationship parts (``**/_rels/*.rels``): external targets → indicators and findings.

Every ``TargetMode="External"`` target is recorded as indicators (URL, host, UNC path). What it means
depends on the relationship type: a remote attachedTemplate is template injection, a remote oleObject
is the CVE-2017-0199 URL-moniker pattern, ``mhtml:``/``!x-usc:`` is the CVE-2021-40444 MSHTML loader,
``ms-msdt:`` is Follina; ordinary hyperlinks are only informational.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from aptcatch.capture.context import ArtifactContext
from aptcatch.capture.formats.ooxml_xml import Package, iter_local, xml_or_error
from aptcatch.capture.indicators import normalise_domain
from aptcatch.capture.limits import LimitExceeded
from aptcatch.model.scan import IndicatorType

MAX_RELS = 5000
"""Most relationships evaluated per package."""

_REMOTE_SCHEME = re.compile(r"(?i)^\s*(https?|ftp|ftps|webdav|dav)://")
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_MSDT = re.compile(r"(?i)ms-msdt:")
_SEARCH = re.compile(r"(?i)\bsearch(?:-ms)?:")
_MHTML = re.compile(r"(?i)^\s*mhtml:|!x-usc:")
_INFO_ONLY = {"hyperlink", "video", "audio", "media"}


@dataclass(frozen=True)
class Rel:
    source: str
    """Part that owns the relationship (``word/document.xml``, ``""`` for the package)."""
    rid: str
    type: str
    """Last path segment of the relationship type URI (``attachedTemplate``, ``oleObject`` …)."""
    target: str
    external: bool

    def resolved(self) -> str:
        """Internal target as a package member name."""
        if self.external:
            return self.target
        t = self.target.replace("\\", "/")
        if t.startswith("/"):
            parts: list[str] = []
        else:
            parts = self.source.split("/")[:-1]
        for seg in t.lstrip("/").split("/"):
            if seg == "..":
                if parts:
                    parts.pop()
            elif seg and seg != ".":
                parts.append(seg)
        return unquote("/".join(parts))


def source_of(rels_name: str) -> str:
    """``word/_rels/document.xml.rels`` → ``word/document.xml``; ``_rels/.rels`` → ``""``."""
    folder, _, base = rels_name.rpartition("_rels/")
    base = base[: -len(".rels")] if base.lower().endswith(".rels") else base
    return folder + base


def read_all(pkg: Package) -> list[Rel]:
    out: list[Rel] = []
    for info in pkg.infos:
        name = info.filename
        if not name.lower().endswith(".rels") or "_rels/" not in name.replace("\\", "/").lower():
            continue
        data = pkg.read(name, 8 * 1024 * 1024)
        if data is None:
            continue
        root = xml_or_error(pkg.ctx, name, data)
        if root is None:
            continue
        src = source_of(name.replace("\\", "/"))
        for el in iter_local(root, "Relationship"):
            if len(out) >= MAX_RELS:
                pkg.ctx.error("limit", f"more than {MAX_RELS} relationships; the rest are ignored")
                return out
            target = el.get("Target") or ""
            rtype = (el.get("Type") or "").rstrip("/").rsplit("/", 1)[-1]
            external = (el.get("TargetMode") or "").lower() == "external"
            out.append(Rel(src, el.get("Id") or "", rtype, target, external))
    return out


def unc_host(target: str) -> str | None:
    """Remote host of a UNC or file:// target, or None when the target is local or not a path."""
    t = target.strip()
    low = t.lower()
    if low.startswith("file:"):
        rest = t[5:].replace("\\", "/")
        if rest.startswith("///"):
            rest = rest[3:]
            if not rest.startswith("//"):
                return None  # file:///C:/... is local
        elif rest.startswith("//"):
            pass
        else:
            return None
        host = rest.lstrip("/").split("/", 1)[0]
    elif t.startswith(("\\\\", "//")):
        host = t.replace("\\", "/").lstrip("/").split("/", 1)[0]
    else:
        return None
    host = host.split("@", 1)[0].strip()  # \\host@SSL@443\DavWWWRoot
    if not host or host.lower() in ("localhost", "127.0.0.1", "?", "."):
        return None
    return host


def is_remote(target: str) -> bool:
    return bool(_REMOTE_SCHEME.match(target)) or unc_host(target) is not None


def record_target(ctx: ArtifactContext, target: str, context: str) -> None:
    """Indicators for one external target (URL, domain/IP, UNC path)."""
    for piece in re.split(r"(?i)!x-usc:|^\s*mhtml:", target):
        if piece.strip():
            ctx.indicators_from_text(unquote(piece.strip()), context)
    host = unc_host(target)
    if host:
        if _IPV4.match(host):
            ctx.indicator(IndicatorType.IPV4, host, context)
        else:
            dom = normalise_domain(host)
            if dom:
                ctx.indicator(IndicatorType.DOMAIN, dom, context)
    elif _REMOTE_SCHEME.match(target):
        try:
            h = urlsplit(target.strip()).hostname
        except ValueError:
            h = None
        if h and not _IPV4.match(h):
            dom = normalise_domain(h)
            if dom:
                ctx.indicator(IndicatorType.DOMAIN, dom, context)


def check_schemes(ctx: ArtifactContext, text: str, where: str) -> None:
    """Follina / search-ms / MHTML schemes anywhere in a target or part."""
    m = _MSDT.search(text)
    if m:
        ctx.finding("ooxml.follina", f"{where}: {text[max(m.start() - 40, 0) : m.start() + 200]}")
    m = re.search(r"(?i)\bsearch(?:-ms)?:[^\s\"'<>]{0,200}", text)
    if m and re.search(r"(?i)(crumb=|query=|location:|subquery=)", m.group(0)):
        ctx.finding("ooxml.search_ms", f"{where}: {m.group(0)[:200]}")


def analyze(ctx: ArtifactContext, pkg: Package, rels: list[Rel], template_meta: str | None) -> None:
    """Findings and indicators for the external relationships of the package."""
    for rel in rels:
        if not rel.external:
            continue
        target = rel.target.strip()
        where = f"{rel.source or 'package'} [{rel.rid}] {rel.type}"
        context = f"ooxml relationship {rel.type} in {rel.source or '_rels/.rels'}"
        record_target(ctx, target, context)
        check_schemes(ctx, target, where)
        host = unc_host(target)
        remote = is_remote(target)
        mhtml = bool(_MHTML.search(target))
        rtype = rel.type.lower()
        if mhtml:
            ctx.finding("ooxml.mhtml_target", f"{where} → {target}")
        if host:
            ctx.finding("ooxml.unc_forced_auth", f"{where} → {target}")
        if rtype == "attachedtemplate":
            if remote or mhtml:
                detail = f"{where} → {target}"
                if template_meta and "normal.dot" not in template_meta.lower():
                    detail += f" (app.xml Template: {template_meta})"
                ctx.finding("ooxml.remote_template", detail)
            else:
                ctx.meta("attached_template", target)
        elif rtype in ("oleobject", "package") or rtype.endswith("oleobject"):
            if "externallinks/" in rel.source.lower() and not _REMOTE_SCHEME.match(target) and not mhtml:
                ctx.finding("ooxml.external_workbook_link", f"{where} → {target}")
            elif remote and not mhtml:
                detail = f"{where} → {target}"
                if target.endswith("!"):
                    detail += " (target ends with '!': the HTML-loader form used by Follina)"
                ctx.finding("ooxml.external_oleobject", detail)
        elif rtype in ("frame", "subdocument"):
            if remote or mhtml:
                ctx.finding("ooxml.external_frame", f"{where} → {target}")
        elif rtype in ("externallinkpath", "externallink", "xlexternallinkpath") or "externallink" in rtype:
            ctx.finding("ooxml.external_workbook_link", f"{where} → {target}")
        elif rtype in _INFO_ONLY:
            if re.match(r"(?i)^\s*(https?|ftp|mailto|file|\\\\)", target) or remote:
                if rel.source.lower().endswith("settings.xml") and remote:
                    ctx.finding("ooxml.external_reference", f"{where} → {target}")
                else:
                    ctx.finding("ooxml.external_hyperlink", f"{where} → {target[:200]}")
        elif remote:
            ctx.finding("ooxml.external_reference", f"{where} → {target}")


def scan_parts_for_schemes(pkg: Package, budget: int = 32 * 1024 * 1024) -> None:
    """Look for ms-msdt:/search-ms: in every XML part (fields, hyperlinks, VML), bytes only."""
    spent = 0
    for info in pkg.infos:
        low = info.filename.lower()
        if not low.endswith((".xml", ".rels", ".vml")) or spent + info.file_size > budget:
            continue
        spent += info.file_size
        try:
            data = pkg.read(info.filename, budget)
        except LimitExceeded:
            continue
        if data is None:
            continue
        lowdata = data.lower()
        if b"ms-msdt:" in lowdata or b"search-ms:" in lowdata:
            text = data.decode("utf-8", "replace")
            for m in re.finditer(r"(?i)(ms-msdt:|search-ms:)[^\"<>]{0,300}", text):
                check_schemes(pkg.ctx, m.group(0), info.filename)
                pkg.ctx.indicators_from_text(m.group(0), f"ooxml part {info.filename}")
