"""PDF analyser: actions, JavaScript, launch, links, attachments, forms, encryption and lure text.

Two sources feed one set of facts. pypdf (``strict=False``) gives the document structure: which action
hangs off /OpenAction, an /AA, the JavaScript name tree or a link; decryption (empty user password,
then the item's password candidates); attachments; page text and link geometry. A tolerant scan of
the raw object dictionaries (``_pdf_raw``; see its docstring for why it is hand-written) is always run
as well: it survives files pypdf rejects, sees objects no xref reaches and notices obfuscated
``/J#61vaScript`` names. Every stream is decoded by the bounded decoder in ``_pdf_raw`` (pypdf's own
decoders allow 75 MB per stream), so a decompression bomb costs at most the budget.
"""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING, Any

from aptcatch.capture.analyzer import Analyzer
from aptcatch.capture.context import ArtifactContext
from aptcatch.capture.formats import _pdf_raw as raw
from aptcatch.capture.formats._pdf_facts import MAX_ACTIONS, REMOTE_KINDS, Facts, raw_facts
from aptcatch.capture.formats._pdf_js import (
    Fragment,
    analyse_js,
    is_ip_host,
    shown_host_mismatch,
    text_in_rect,
    url_host,
)
from aptcatch.capture.types import FileType
from aptcatch.model.scan import IndicatorType

if TYPE_CHECKING:
    from aptcatch.capture.engine import ScanConfig

MAX_PAGES_WALKED = 200
MAX_TEXT_PAGES = 5
MAX_TREE_NODES = 2000
LURE_MAX_TEXT = 1500
EXEC_EXT = re.compile(
    r"(?i)\.(exe|scr|com|pif|dll|cpl|msi|js|jse|vbs|vbe|wsf|wsh|hta|bat|cmd|ps1|lnk|jar|chm|iso|img|vhdx?)\s*$"
)
_POLYGLOT = re.compile(rb"(?i)<hta:application\b|<script[^>]{0,200}language\s*=\s*[\"']?(vbscript|jscript)")


class PdfAnalyzer:
    name = "pdf"
    types: frozenset[FileType] | None = frozenset({FileType.PDF})

    def analyze(self, ctx: ArtifactContext) -> None:
        facts = Facts()
        scan = raw.scan(ctx.data)
        for err in scan.errors:
            ctx.error("limit", err)
        ctx.meta("pdf_objects", len(scan.objects))
        ctx.meta("pdf_objstm_count", scan.objstm_count)
        m = re.search(rb"%PDF-(\d\.\d)", ctx.data[:1024])
        if m:
            ctx.meta("pdf_version", m.group(1).decode())
        try:
            raw_facts(scan, facts)
        except raw.BudgetSpent as exc:
            ctx.error("limit", str(exc))
        try:
            _pypdf_facts(ctx, scan, facts)
        except raw.BudgetSpent as exc:
            ctx.error("limit", str(exc))
        except Exception as exc:  # pypdf gave up: the raw scan still stands
            ctx.error("parse", f"pypdf: {type(exc).__name__}: {exc}"[:300])
        _report(ctx, scan, facts)


# -- pypdf source ------------------------------------------------------------------------------------
def _pdf_stream(scan: raw.RawScan, obj: Any) -> bytes:
    filt = obj.get("/Filter")
    names = [str(f) for f in (filt if isinstance(filt, list) else [filt] if filt else [])]
    dict_text = ("/Filter [" + " ".join(names) + "]").encode("latin-1", "replace")
    return raw.decode_stream(dict_text, bytes(obj._data), scan)


def _pypdf_text(scan: raw.RawScan, value: Any) -> str:
    value = value.get_object() if hasattr(value, "get_object") else value
    if hasattr(value, "_data"):
        return raw.pdf_text(_pdf_stream(scan, value))
    return str(value) if value is not None else ""


class _Walker:
    def __init__(self, ctx: ArtifactContext, scan: raw.RawScan, facts: Facts) -> None:
        self.ctx, self.scan, self.facts = ctx, scan, facts

    def action(self, act: Any, where: str, auto: bool, depth: int = 0) -> None:
        f = self.facts
        if act is None or depth > 8 or f.actions_seen >= MAX_ACTIONS:
            return
        f.actions_seen += 1
        act = act.get_object()
        if isinstance(act, list):
            for a in act[:50]:
                self.action(a, where, auto, depth + 1)
            return
        if not hasattr(act, "get"):
            return
        kind = str(act.get("/S", ""))[1:]
        if kind == "JavaScript" or "/JS" in act:
            f.add_js(_pypdf_text(self.scan, act.get("/JS")), where, auto)
        elif kind == "Launch":
            win = act.get("/Win")
            win = win.get_object() if win is not None else None
            target = self.filespec_name(win.get("/F") if win else act.get("/F"))
            params = str(win.get("/P", "")) if win else ""
            key = (target + " " + params).strip() or "(no target)"
            f.launches[key] = f.launches.get(key, False) or auto
        elif kind == "URI":
            u = str(act.get("/URI", "")).strip()
            if u:
                f.uris[u] = f.uris.get(u, False) or auto
            if auto:
                f.auto_actions.add("URI")
        elif kind in REMOTE_KINDS:
            f.remote.add(f"{kind} {self.filespec_name(act.get('/F'))}")
            if auto:
                f.auto_actions.add(kind)
        elif auto and kind and kind not in ("GoTo", "Named"):
            f.auto_actions.add(kind)
        self.action(act.get("/Next"), where, auto, depth + 1)

    def aa(self, holder: Any, where: str) -> None:
        aa = holder.get("/AA")
        if aa is None:
            return
        aa = aa.get_object()
        for key in list(aa.keys())[:30]:
            self.action(aa[key], f"{where} /AA {key}", True)

    def filespec_name(self, fs: Any) -> str:
        if fs is None:
            return ""
        fs = fs.get_object()
        if hasattr(fs, "get"):
            for k in ("/UF", "/F", "/DOS", "/Unix"):
                v = fs.get(k)
                if v is not None and not hasattr(v.get_object(), "keys"):
                    return str(v).replace("\x00", "").strip()
            return ""
        return str(fs).strip()

    def filespec(self, fs: Any) -> None:
        fs = fs.get_object() if fs is not None else None
        if not hasattr(fs, "get"):
            return
        ef = fs.get("/EF")
        if ef is None:
            return
        ef = ef.get_object()
        for k in ("/F", "/UF"):
            stream = ef.get(k)
            if stream is not None and hasattr(stream.get_object(), "_data"):
                self.facts.add_embedded(self.filespec_name(fs), _pdf_stream(self.scan, stream.get_object()))
                return

    def name_tree(self, node: Any, visit: Any, budget: list[int]) -> None:
        node = node.get_object() if node is not None else None
        if not hasattr(node, "get") or budget[0] <= 0:
            return
        budget[0] -= 1
        names = node.get("/Names")
        if names is not None:
            arr = names.get_object()
            for i in range(1, min(len(arr), 2 * MAX_TREE_NODES), 2):
                visit(str(arr[i - 1]), arr[i])
        for kid in (node.get("/Kids") or [])[:MAX_TREE_NODES]:
            self.name_tree(kid, visit, budget)

    def fields(self, fields: Any, budget: list[int]) -> None:
        for fld in (fields or [])[:MAX_TREE_NODES]:
            if budget[0] <= 0:
                return
            budget[0] -= 1
            fld = fld.get_object()
            if not hasattr(fld, "get"):
                continue
            self.aa(fld, "field")
            self.action(fld.get("/A"), "field", False)
            self.fields(fld.get("/Kids"), budget)


def _pypdf_facts(ctx: ArtifactContext, scan: raw.RawScan, facts: Facts) -> None:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(ctx.data), strict=False)
    if reader.is_encrypted:
        facts.encrypted = True
        opened = False
        for pw in ["", *ctx.passwords]:
            try:
                if reader.decrypt(pw):
                    opened = True
                    ctx.meta("pdf_password", "(empty user password)" if pw == "" else pw)
                    break
            except Exception as exc:  # unsupported crypt filter, broken /Encrypt
                ctx.error("encrypted", f"cannot decrypt: {type(exc).__name__}: {exc}"[:300])
                break
        if not opened:
            facts.unopened = True
            return
    w = _Walker(ctx, scan, facts)
    _metadata(ctx, reader)
    root: Any = reader.trailer["/Root"].get_object()
    w.action(root.get("/OpenAction"), "/OpenAction", True)
    w.aa(root, "document")
    names: Any = root.get("/Names")
    names = names.get_object() if names is not None else None
    if names is not None:
        w.name_tree(
            names.get("/JavaScript"), lambda n, a: w.action(a, f"JavaScript name tree {n!r}", True), [500]
        )
        w.name_tree(names.get("/EmbeddedFiles"), lambda n, fs: w.filespec(fs), [500])
    form = root.get("/AcroForm")
    if form is not None:
        facts.acroform = True
        form = form.get_object()
        w.fields(form.get("/Fields"), [MAX_TREE_NODES])
    pages = reader.pages
    facts.page_count = len(pages)
    ctx.meta("page_count", facts.page_count)
    texts: list[str] = []
    for i, page in enumerate(pages):
        if i >= MAX_PAGES_WALKED:
            break
        w.aa(page, f"page {i + 1}")
        box = page.mediabox
        area = float(box.width) * float(box.height)
        for annot in (page.get("/Annots") or [])[:500]:
            annot = annot.get_object()
            if not hasattr(annot, "get"):
                continue
            sub = str(annot.get("/Subtype", ""))
            w.aa(annot, f"annotation {sub}")
            act = annot.get("/A")
            w.action(act, f"annotation {sub}", False)
            if sub == "/FileAttachment":
                w.filespec(annot.get("/FS"))
            elif sub == "/RichMedia":
                facts.richmedia = True
            if act is not None and str(act.get_object().get("/S", "")) == "/URI":
                rect = tuple(float(x) for x in annot.get("/Rect", [0, 0, 0, 0])[:4])
                uri = str(act.get_object().get("/URI", ""))
                if len(rect) == 4:
                    facts.links.append((i, (rect[0], rect[1], rect[2], rect[3]), uri, area))
        if i < MAX_TEXT_PAGES:
            texts.append(_page_text(page, [lk for lk in facts.links if lk[0] == i], facts))
    text = "\n".join(t for t in texts if t.strip())
    facts.text_chars = len(re.sub(r"\s", "", text))
    if text.strip():
        ctx.text(text[:50_000], "document")


def _page_text(
    page: Any, links: list[tuple[int, tuple[float, float, float, float], str, float]], facts: Facts
) -> str:
    frags: list[Fragment] = []

    def visit(text: str, cm: list[float], tm: list[float], font: Any, size: Any) -> None:
        if links and text.strip() and len(frags) < 20_000:
            x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            frags.append(Fragment(x, y, text))

    try:
        text = str(page.extract_text(visitor_text=visit))
    except Exception:
        return ""
    for _, rect, uri, _area in links:
        shown = shown_host_mismatch(text_in_rect(frags, rect), uri)
        if shown:
            facts.shown_mismatch.append(f"shows {shown!r}, goes to {uri[:200]!r}")
    return text


def _metadata(ctx: ArtifactContext, reader: Any) -> None:
    try:
        info = reader.metadata or {}
    except Exception:
        return
    for key, name in (
        ("/Author", "author"),
        ("/Creator", "creator"),
        ("/Producer", "producer"),
        ("/CreationDate", "created"),
        ("/ModDate", "modified"),
        ("/Title", "title"),
    ):
        v = info.get(key)
        if v is not None and str(v).strip():
            ctx.meta(name, str(v).strip())


# -- findings ----------------------------------------------------------------------------------------
def _report(ctx: ArtifactContext, scan: raw.RawScan, facts: Facts) -> None:
    data = ctx.data
    if facts.encrypted or re.search(rb"/Encrypt\s+\d+\s+\d+\s+R", data):
        ctx.finding("pdf.encrypted")
        if facts.unopened:
            ctx.finding("pdf.encrypted_unopened", "no known password opens it; strings and streams unread")
            ctx.error("encrypted", "PDF content encrypted with an unknown password")
    if scan.obfuscated:
        ctx.finding("pdf.obfuscated_names", ", ".join(sorted(scan.obfuscated)[:10]))
    ctx.meta("pdf_javascript_count", len(facts.js))
    for code, (where, auto) in list(facts.js.items())[:50]:
        head = re.sub(r"\s+", " ", code[:150])
        ctx.finding("pdf.auto_javascript" if auto else "pdf.javascript", f"{where}: {head}")
        if auto:
            ctx.finding("pdf.javascript", f"{where}: {head}")
        for fid, detail in analyse_js(code).findings:
            ctx.finding(fid, detail)
        ctx.indicators_from_text(code[:200_000], "pdf javascript")
    for target, auto in list(facts.launches.items())[:20]:
        ctx.finding("pdf.launch", ("automatic: " if auto else "") + target[:300])
        ctx.indicators_from_text(target, "pdf launch action")
    for kind in sorted(facts.auto_actions - {"JavaScript", "Launch"}):
        ctx.finding("pdf.auto_action", f"/OpenAction or /AA runs a /{kind} action")
    for target in sorted(facts.remote)[:20]:
        ctx.finding("pdf.remote_action", target[:300])
        ctx.indicators_from_text(target, "pdf remote action")
    if facts.uris:
        ctx.finding("pdf.uri", f"{len(facts.uris)} link target(s)")
    for u in list(facts.uris)[:200]:
        ctx.indicator(IndicatorType.URL, u, "pdf link") if "://" in u else ctx.indicators_from_text(
            u, "pdf link"
        )
        if is_ip_host(url_host(u)):
            ctx.finding("pdf.uri_ip_host", u[:300])
    for s in facts.shown_mismatch[:5]:
        ctx.finding("pdf.deceptive_link", s)
    _link_lure(ctx, facts)
    for i, (name, blob) in enumerate(list(facts.embedded.values())[:100]):
        ctx.finding("pdf.embedded_file", f"{name or 'unnamed'} ({len(blob)} bytes)")
        if name and EXEC_EXT.search(name):
            ctx.finding("pdf.embedded_executable_name", name)
        ctx.child(name or f"embedded_{i}", blob)
    if facts.richmedia:
        ctx.finding("pdf.richmedia")
    if facts.xfa:
        ctx.finding("pdf.xfa")
    if facts.xfa_script:
        ctx.finding("pdf.xfa_script")
    if facts.acroform:
        ctx.finding("pdf.acroform")
    m = _POLYGLOT.search(data[: 16 * 1024 * 1024])
    if m:
        ctx.finding("pdf.polyglot_script", m.group(0)[:80].decode("latin-1"))
    eof = data.rfind(b"%%EOF")
    if eof >= 0:
        tail = data[eof + 5 :]
        if len(tail.strip(b"\r\n\t \x00")) >= 512:
            ctx.meta("pdf_trailing_bytes", len(tail))
            ctx.finding("pdf.trailing_data", f"{len(tail)} bytes after the last %%EOF")
            ctx.child("trailing_data", tail.lstrip(b"\r\n"))


def _link_lure(ctx: ArtifactContext, facts: Facts) -> None:
    external = [lk for lk in facts.links if "://" in lk[2] and not lk[2].lower().startswith("mailto:")]
    if not external or not facts.page_count or facts.page_count > 3:
        return
    big = [lk for lk in external if lk[3] > 0 and _area(lk[1]) / lk[3] >= 0.25]
    hosts = {url_host(lk[2]) for lk in external}
    if big:
        ctx.finding(
            "pdf.link_lure",
            f"a link covers {100 * _area(big[0][1]) / big[0][3]:.0f}% of page: {big[0][2][:200]}",
        )
    elif facts.text_chars <= LURE_MAX_TEXT and len(hosts) <= 3:
        ctx.finding(
            "pdf.link_lure",
            f"{facts.page_count} page(s), {facts.text_chars} characters of text, "
            f"links to {', '.join(sorted(hosts))[:200]}",
        )


def _area(rect: tuple[float, float, float, float]) -> float:
    return abs(rect[2] - rect[0]) * abs(rect[3] - rect[1])


def analyzers(config: ScanConfig) -> list[Analyzer]:
    return [PdfAnalyzer()]
