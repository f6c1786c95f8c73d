"""RTF lures: embedded OLE objects (Equation Editor, OLE2Link, Package, ActiveX …), exploit-kit
obfuscation, remote templates, parser-bug CVEs, visible lure text and document metadata.

Two readers run over every RTF. ``oletools.rtfobj`` (the field library) goes first; then the
Word-emulating tokenizer of ``rtf_deobf`` rebuilds every ``\\objdata`` the way Word would, which recovers
objects that builders hide from spec-following parsers. Objects found by either are parsed as OLE 1.0
(``rtf_objects``) and their native data (a compound file, an MTEF stream, a packaged file) becomes a
child, so ``identify`` and the OLE/Equation analysers take over.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from oletools import oleobj, rtfobj

from aptcatch.capture.context import ArtifactContext, MetaValue
from aptcatch.capture.formats.rtf_deobf import ObjData, RtfStructure, parse_structure
from aptcatch.capture.formats.rtf_objects import (
    CFB_MAGIC,
    CLSID_FINDINGS,
    EQNOLEFILEHDR,
    Ole1Object,
    cfb_info,
    class_info,
    class_is_garbled,
    equation_trace,
    moniker_targets,
    parse_ole1,
)
from aptcatch.capture.formats.rtf_text import extract_text
from aptcatch.capture.types import FileType
from aptcatch.model.scan import IndicatorType, JSONScalar

if TYPE_CHECKING:
    from aptcatch.capture.analyzer import Analyzer
    from aptcatch.capture.engine import ScanConfig

MAX_OBJECTS = 256
RTFOBJ_MAX_ESCAPES = 20_000
FONT_BOMB = 4096
_EXEC_EXT = re.compile(
    r"(?i)\.(exe|dll|scr|com|pif|cpl|hta|js|jse|vbs|vbe|wsf|wsh|ps1|bat|cmd|lnk|sct|msi|jar|inf|reg|cab)$"
)
_BENIGN_DATASTORE = re.compile(r"(?i)^msxml2\.saxxmlreader\.[0-9.]+$")


@dataclass
class _Obj:
    """One object as reconstructed (by either reader), with what the checks need."""

    index: int
    offset: int
    source: str
    declared_class: str = ""
    ole1: Ole1Object | None = None
    payload: bytes = b""
    flags: set[str] = field(default_factory=set)
    hidden: str = ""
    datastore: bool = False


class RtfAnalyzer:
    name = "rtf"
    types: frozenset[FileType] | None = frozenset({FileType.RTF})

    def analyze(self, ctx: ArtifactContext) -> None:
        data = ctx.data
        self._text(ctx, data)
        limits = ctx.limits
        st = parse_structure(data, MAX_OBJECTS, max_hex=2 * limits.max_child_size)
        notes = self._document_checks(ctx, data, st)
        objs, missed = self._objects(ctx, data, st, notes)
        equation_seen = False
        classes: list[JSONScalar] = []
        descriptions: list[JSONScalar] = []
        seen_payloads: set[str] = set()
        for obj in objs:
            equation_seen |= self._one_object(ctx, obj, classes, descriptions, seen_payloads, notes)
        if classes:
            ctx.meta("rtf_object_classes", classes[:50])
        if descriptions:
            ctx.meta("rtf_objects", descriptions[:50])
        if not equation_seen:
            self._equation_traces(ctx, st, seen_payloads)
        if missed:
            notes.append(f"{missed} object(s) that oletools rtfobj could not decode")
        if notes:
            ctx.finding("rtf.obfuscation", "; ".join(notes))
        if st.objects_capped:
            ctx.error("limit", f"more than {MAX_OBJECTS} \\objdata destinations: the rest are not analysed")

    # -- text and metadata ---------------------------------------------------------------------------
    def _text(self, ctx: ArtifactContext, data: bytes) -> None:
        t = extract_text(data, ctx.limits.max_text_chars)
        ctx.text(t.text, "document")
        if t.codepage is not None:
            ctx.meta("codepage", t.codepage)
        if t.deflang is not None:
            ctx.meta("rtf_deflang", t.deflang)
        if t.deflangfe is not None:
            ctx.meta("rtf_deflangfe", t.deflangfe)
        for key, value in t.info.items():
            ctx.meta(key, value)
        for instr in t.field_instructions:
            ctx.indicators_from_text(instr, "rtf field instruction")
            if re.search(r"(?i)\bDDE(AUTO)?\b", instr):
                ctx.finding("rtf.dde_field", instr[:300])

    # -- whole-document checks -----------------------------------------------------------------------
    def _document_checks(self, ctx: ArtifactContext, data: bytes, st: RtfStructure) -> list[str]:
        notes: list[str] = []
        if not data.startswith(b"{\\rtf1"):
            notes.append(f"non-standard header {data[:8]!r} (Word only checks '{{\\rt')")
        if st.fonts:
            ctx.meta("rtf_font_count", st.fonts)
        if st.fonts >= FONT_BOMB:
            ctx.finding("rtf.font_table_overflow", f"{st.fonts} font entries in \\fonttbl")
        template = bytes(st.template).decode("latin-1").strip().strip('"')
        if template:
            ctx.meta("template", template[:500])
            if re.match(r"(?i)^(https?|ftp|file)://|^\\\\", template):
                ctx.finding("rtf.remote_template", template[:300])
                ctx.indicators_from_text(template, "rtf \\template")
        for name, value in st.shape_props:
            if name.lower() == "pfragments":
                bad = self._pfragments_bad(value)
                if bad:
                    ctx.finding("rtf.pfragments", bad)
        if st.overlong_objdata:
            notes.append(f"{st.overlong_objdata} overlong \\objdata control word(s)")
        if st.trailing_bytes > 1024:
            notes.append(f"{st.trailing_bytes} bytes after the end of the document")
        return notes

    @staticmethod
    def _pfragments_bad(value: bytes) -> str:
        parts = value.strip().split(b";")
        if len(parts) < 3:
            return "pFragments value without element count;size;data form"
        try:
            count, size = int(parts[0] or b"0"), int(parts[1] or b"0")
        except ValueError:
            return "non-numeric pFragments element count"
        hexdata = b"".join(parts[2:]).strip()
        if count < 0 or size < 0 or count > 4096 or len(hexdata) > 16384:
            return f"pFragments with {count} elements and {len(hexdata)} hex digits"
        return ""

    # -- object discovery ----------------------------------------------------------------------------
    def _objects(
        self, ctx: ArtifactContext, data: bytes, st: RtfStructure, notes: list[str]
    ) -> tuple[list[_Obj], int]:
        lib_objs: list[_Obj] = []
        escapes = sum(od.escapes for od in st.objects)
        if escapes > RTFOBJ_MAX_ESCAPES:  # rtfobj re-filters its buffer at every \'hh: quadratic
            ctx.meta("rtfobj_skipped", f"{escapes} \\'hh escapes inside \\objdata")
        else:
            try:
                parser = rtfobj.RtfObjParser(data)
                parser.parse()
                for o in parser.objects[:MAX_OBJECTS]:
                    raw = bytes(o.rawdata or b"")
                    ole1 = parse_ole1(raw)
                    payload = ole1.native if ole1 else raw
                    lib_objs.append(_Obj(0, int(o.start or 0), "rtfobj", ole1=ole1, payload=payload))
            except Exception as exc:
                ctx.error("parse", f"oletools rtfobj failed: {type(exc).__name__}: {exc}"[:300])
        out: list[_Obj] = []
        missed = differ = 0
        tricks: dict[str, int] = {}
        lib_keys = {hashlib.sha256(o.payload).hexdigest() for o in lib_objs}
        for od in st.objects:
            obj = self._from_objdata(od)
            self._count_tricks(od, tricks)
            end = od.end if od.end >= 0 else len(data)
            twin = next((o for o in lib_objs if od.start <= o.offset <= end), None)
            valid = obj.ole1 is not None or obj.payload[:8] == CFB_MAGIC
            if twin is not None:
                lib_objs.remove(twin)
                if not valid and twin.ole1 is not None:
                    obj.ole1, obj.payload, obj.source = twin.ole1, twin.payload, "rtfobj"
                elif valid and twin.payload != obj.payload and not obj.datastore:
                    differ += 1
            elif valid and not obj.datastore and hashlib.sha256(obj.payload).hexdigest() not in lib_keys:
                missed += 1
            out.append(obj)
        out.extend(o for o in lib_objs if o.ole1 is not None)  # found by rtfobj only
        for i, obj in enumerate(out):
            obj.index = i
        for trick, n in tricks.items():
            notes.append(f"{trick}: {n}")
        if differ:
            notes.append(f"{differ} object(s) that oletools rtfobj decodes differently from Word's reading")
        return out, missed

    @staticmethod
    def _count_tricks(od: ObjData, tricks: dict[str, int]) -> None:
        digits = len(od.odd_rule)
        checks = {
            "junk control words inside \\objdata": od.junk_words,
            "ignorable/junk groups inside \\objdata": od.junk_groups,
            "\\'hh escapes inside \\objdata (dropped-nibble trick)": od.escapes,
            "\\bin raw runs inside \\objdata": od.bins,
            "non-hex characters inside \\objdata": od.nonhex_chars,
            "odd-length hex data": digits & 1,
            "whitespace-split hex (beyond line breaks)": int(od.whitespace > digits // 16 + 64),
            "objects hidden from Word's normal reading": int(bool(od.hidden) and od.hidden != "datastore"),
        }
        for k, v in checks.items():
            if v:
                tricks[k] = tricks.get(k, 0) + v

    @staticmethod
    def _from_objdata(od: ObjData) -> _Obj:
        grp = od.group
        declared = bytes(grp.classname).decode("latin-1").strip() if grp else ""
        obj = _Obj(0, od.start, "emulation", declared_class=declared, hidden=od.hidden)
        obj.flags = set(grp.flags) if grp else set()
        obj.datastore = od.hidden == "datastore"
        best: tuple[int, int] = (-1, 0)
        cands = od.candidates()
        for i, cand in enumerate(cands):
            score = _candidate_score(cand)
            if score > best[0]:
                best = (score, i)
        if not cands:
            return obj
        cand = cands[best[1]]
        ole1 = parse_ole1(cand)
        if ole1 is not None:
            obj.ole1, obj.payload = ole1, ole1.native
            return obj
        at = cand.find(CFB_MAGIC, 0, 4096)
        obj.payload = cand[at:] if at >= 0 else cand
        return obj

    # -- one object ----------------------------------------------------------------------------------
    def _one_object(
        self,
        ctx: ArtifactContext,
        obj: _Obj,
        classes: list[JSONScalar],
        descriptions: list[JSONScalar],
        seen: set[str],
        notes: list[str],
    ) -> bool:
        ole1 = obj.ole1
        cls = ole1.class_name if ole1 else obj.declared_class
        key = hashlib.sha256(obj.payload).hexdigest()
        if obj.datastore and (not ole1 or _BENIGN_DATASTORE.match(cls)):
            return False
        clsid, streams, ole_stream = cfb_info(obj.payload)
        kinds, targets = moniker_targets(ole_stream or obj.payload[: 1 << 20])
        fmt = {1: "linked", 2: "embedded"}.get(ole1.format_id, "?") if ole1 else "raw"
        desc = f"object_{obj.index} @{obj.offset:#x} class={cls or '-'} format={fmt} size={len(obj.payload)}"
        if clsid:
            desc += f" clsid={clsid}"
        if obj.flags:
            desc += " " + " ".join(sorted(f"\\{f}" for f in obj.flags))
        if obj.hidden:
            desc += f" ({obj.hidden})"
        descriptions.append(desc)
        if cls and cls not in classes:
            classes.append(cls)
        if ole1 and obj.declared_class and class_info(obj.declared_class) != class_info(cls):
            notes.append(f"\\objclass {obj.declared_class[:40]!r} hides OLE class {cls[:40]!r}")
        if cls and class_is_garbled(cls):
            notes.append(f"garbled class name {cls[:40]!r}")
        if ole1 and ole1.truncated:
            notes.append(
                f"object_{obj.index} declares {ole1.declared_size} bytes but holds {len(ole1.native)}"
            )
        hits: dict[str, str] = {}
        info = class_info(cls) if cls else None
        if info:
            hits[info.finding] = f"class {cls!r} ({info.label})"
        cinfo = CLSID_FINDINGS.get(clsid)
        if cinfo:
            hits.setdefault(cinfo.finding, f"CLSID {clsid} ({cinfo.label})")
            if info is None and cls:
                notes.append(f"class name {cls[:40]!r} disguises {cinfo.label}")
        for k in kinds:
            m = CLSID_FINDINGS[k]
            hits.setdefault(m.finding, f"{m.label} {k}")
        for t in targets:
            itype = IndicatorType.URL if "://" in t else IndicatorType.FILE_PATH
            ctx.indicator(itype, t, f"rtf object_{obj.index} moniker")
        if targets and "rtf.ole2link" in hits:
            hits["rtf.ole2link"] += " → " + ", ".join(targets[:3])
        if ole1 and ole1.format_id == 1:
            link = f"{ole1.topic} {ole1.item}".strip()
            if re.search(r"(?i)(https?|ftp|file)://|\\\\", link):
                hits["rtf.remote_object_link"] = link[:300]
                ctx.indicators_from_text(link, f"rtf object_{obj.index} link")
        if obj.datastore:
            hits.setdefault("rtf.datastore_object", f"class {cls!r} in \\datastore")
        if "objupdate" in obj.flags:
            hits["rtf.objupdate"] = f"object_{obj.index} class {cls!r}"
        for fid, detail in hits.items():
            ctx.finding(fid, f"object_{obj.index}: {detail}")
        is_eq = "rtf.equation_object" in hits or "Equation Native" in streams
        if is_eq and "rtf.equation_object" not in hits:
            ctx.finding("rtf.equation_object", f"object_{obj.index}: 'Equation Native' stream")
        if key in seen or not obj.payload:
            return is_eq
        seen.add(key)
        self._children(ctx, obj, cls, is_eq)
        return is_eq

    def _children(self, ctx: ArtifactContext, obj: _Obj, cls: str, is_eq: bool) -> None:
        label = re.sub(r"[^\w.\-]", "_", cls)[:40] or "unnamed"
        name = f"object_{obj.index} {label}"
        meta: dict[str, MetaValue] = {"rtf_offset": obj.offset, "rtf_class": cls[:100]}
        payload = obj.payload
        if class_info(cls) is not None and class_info(cls).finding == "rtf.package_object":  # type: ignore[union-attr]
            self._package(ctx, obj, payload, meta)
            return
        if payload[:8] == CFB_MAGIC:
            ctx.child(name, payload, metadata=meta)
            return
        hdr = EQNOLEFILEHDR.search(payload[:4096])
        if is_eq and hdr is not None:
            ctx.child(name, payload[hdr.start() :], type_hint=FileType.MTEF, metadata=meta)
            return
        if obj.ole1 is None:  # no OLE 1.0 header: hand over the decoded bytes as they are
            meta["rtf_raw_objdata"] = True
            name = f"object_{obj.index} raw"
        ctx.child(name, payload, metadata=meta)

    @staticmethod
    def _package(ctx: ArtifactContext, obj: _Obj, payload: bytes, meta: dict[str, MetaValue]) -> None:
        try:
            pkg = oleobj.OleNativeStream(bindata=payload, package=True)
            fname = str(pkg.filename or "")
            src, tmp, inner = str(pkg.src_path or ""), str(pkg.temp_path or ""), bytes(pkg.data or b"")
        except Exception as exc:
            ctx.error("parse", f"object_{obj.index}: OLE Package unreadable: {exc}"[:300])
            ctx.child(f"object_{obj.index} package", payload, metadata=meta)
            return
        for p in (src, tmp):
            if p:
                ctx.indicator(IndicatorType.FILE_PATH, p, f"rtf object_{obj.index} package path")
        if fname:
            ctx.indicator(IndicatorType.FILE_NAME, fname, f"rtf object_{obj.index} package")
        detail = f"object_{obj.index}: {fname or '?'} ({len(inner)} bytes) from {src or '?'}"
        if _EXEC_EXT.search(fname) or _EXEC_EXT.search(tmp):
            ctx.finding("rtf.package_executable", detail)
        meta["package_source_path"] = src[:300]
        meta["package_temp_path"] = tmp[:300]
        ctx.child(fname or f"object_{obj.index} package", inner, metadata=meta)

    # -- Equation Editor traces without a surviving object -----------------------------------------
    def _equation_traces(self, ctx: ArtifactContext, st: RtfStructure, seen: set[str]) -> None:
        for i, od in enumerate(st.objects):
            for cand in od.candidates():
                trace = equation_trace(cand)
                if trace is None:
                    continue
                ctx.finding("rtf.obfuscated_equation", f"\\objdata #{i}: " + ", ".join(trace.signals))
                part, hint = b"", None
                if trace.cfb_offset >= 0:
                    part, hint = cand[trace.cfb_offset :], None
                elif trace.mtef_offset >= 0:
                    part, hint = cand[trace.mtef_offset :], FileType.MTEF
                key = hashlib.sha256(part).hexdigest()
                if part and key not in seen:
                    seen.add(key)
                    ctx.child(f"objdata_{i} equation", part, type_hint=hint)
                return


def _candidate_score(cand: bytes) -> int:
    """How much a reconstruction looks like what Word would load (OLE1 header, readable CFB, clean URL)."""
    score = 0
    ole1 = parse_ole1(cand)
    native = cand
    if ole1 is not None:
        score += 4
        native = ole1.native
    elif CFB_MAGIC in cand[:4096]:
        native = cand[cand.find(CFB_MAGIC) :]
        score += 1
    if native[:8] == CFB_MAGIC:
        score += 2
        _clsid, streams, ole_stream = cfb_info(native)
        if streams:
            score += 2
        _, targets = moniker_targets(ole_stream)
        score += sum(1 for t in targets if t.isascii() and t.isprintable())
    elif EQNOLEFILEHDR.search(native[:4096]):
        score += 2
    return score


def analyzers(config: ScanConfig) -> list[Analyzer]:
    return [RtfAnalyzer()]
