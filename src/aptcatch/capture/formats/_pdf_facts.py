"""Facts the PDF analyser gathers, and the part of them read from the raw object scan."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from aptcatch.capture.formats import _pdf_raw as raw

MAX_ACTIONS = 500
REMOTE_KINDS = ("SubmitForm", "GoToR", "GoToE", "ImportData")
_AA_KEYS = {
    "O",
    "C",
    "K",
    "F",
    "V",
    "Fo",
    "Bl",
    "PO",
    "PC",
    "PV",
    "PI",
    "WC",
    "WS",
    "DS",
    "WP",
    "DP",
    "D",
    "U",
    "E",
    "X",
}


@dataclass
class Facts:
    js: dict[str, tuple[str, bool]] = field(default_factory=dict)
    """script text → (where it hangs, runs automatically)."""
    launches: dict[str, bool] = field(default_factory=dict)
    auto_actions: set[str] = field(default_factory=set)
    uris: dict[str, bool] = field(default_factory=dict)
    remote: set[str] = field(default_factory=set)
    embedded: dict[bytes, tuple[str, bytes]] = field(default_factory=dict)
    richmedia: bool = False
    xfa: bool = False
    xfa_script: bool = False
    acroform: bool = False
    encrypted: bool = False
    unopened: bool = False
    actions_seen: int = 0
    links: list[tuple[int, tuple[float, float, float, float], str, float]] = field(default_factory=list)
    """(page index, rect, uri, page area)"""
    page_count: int = 0
    text_chars: int = 0
    shown_mismatch: list[str] = field(default_factory=list)

    def add_js(self, code: str, where: str, auto: bool) -> None:
        if not code.strip():
            return
        old = self.js.get(code)
        self.js[code] = (
            where if old is None or (auto and not old[1]) else old[0],
            auto or bool(old and old[1]),
        )

    def add_embedded(self, name: str, data: bytes) -> None:
        key = hashlib.sha256(data).digest()
        if key not in self.embedded or (name and not self.embedded[key][0]):
            self.embedded[key] = (name, data)


# -- raw source (see _pdf_raw for why it exists) --------------------------------------------------
def _s(v: bytes) -> str:
    return raw.pdf_text(v).replace("\x00", "").strip()


def _raw_strings(scan: raw.RawScan, text: bytes, key: bytes, depth: int = 0) -> list[str]:
    out: list[str] = []
    for kind, val in raw.read_value(text, key):
        if kind == "str" and isinstance(val, bytes):
            out.append(_s(val))
        elif kind == "dict" and isinstance(val, bytes) and depth < 2:
            for k in (b"UF", b"F", b"DOS", b"Unix"):
                out.extend(_raw_strings(scan, val, k, depth + 1))
        elif kind == "ref" and isinstance(val, tuple) and depth < 2:
            obj = scan.get(*val)
            if obj is not None:
                body = obj.dict_text.strip()
                if body.startswith(b"("):
                    out.append(_s(raw.read_literal(body, 0)[0]))
                elif body.startswith(b"<<"):
                    for k in (b"UF", b"F"):
                        out.extend(_raw_strings(scan, body, k, depth + 1))
    return [o for o in out if o]


def _raw_js(scan: raw.RawScan, text: bytes) -> list[str]:
    codes: list[str] = []
    for kind, val in raw.read_value(text, b"JS"):
        if kind == "str" and isinstance(val, bytes):
            codes.append(raw.pdf_text(val))
        elif kind == "ref" and isinstance(val, tuple):
            obj = scan.get(*val)
            if obj is None:
                continue
            data = scan.stream(obj)
            if data is not None:
                codes.append(raw.pdf_text(data))
            elif obj.dict_text.strip().startswith(b"("):
                codes.append(raw.pdf_text(raw.read_literal(obj.dict_text.strip(), 0)[0]))
    return codes


def _auto_texts(scan: raw.RawScan) -> list[bytes]:
    """Dictionary texts of every action reachable from an /OpenAction or /AA (bounded)."""
    seen: set[tuple[int, int]] = set()
    texts: list[bytes] = []
    todo: list[tuple[int, int]] = []
    for obj in scan.objects.values():
        for key in (b"OpenAction", b"AA"):
            for kind, val in raw.read_value(obj.dict_text, key):
                if kind == "dict" and isinstance(val, bytes):
                    texts.append(val)
                    todo.extend((int(a), int(b)) for a, b in re.findall(rb"(\d+)\s+(\d+)\s+R", val))
                elif kind == "ref" and isinstance(val, tuple):
                    todo.append(val)
    while todo and len(seen) < MAX_ACTIONS:
        ref = todo.pop()
        if ref in seen:
            continue
        seen.add(ref)
        o = scan.get(*ref)
        if o is None or re.search(rb"/Type\s*/Pages?\b", o.dict_text):
            continue
        keys = {k.decode("latin-1") for k in re.findall(rb"/([A-Za-z]+)", o.dict_text[:2000])}
        if b"/S" not in o.dict_text and not keys & _AA_KEYS:
            continue
        texts.append(o.dict_text)
        todo.extend((int(a), int(b)) for a, b in re.findall(rb"(\d+)\s+(\d+)\s+R", o.dict_text))
    return texts


def _raw_action(scan: raw.RawScan, text: bytes, facts: Facts, where: str, auto: bool) -> None:
    for s in re.findall(rb"/S\s*/([A-Za-z]+)", text):
        kind = s.decode("latin-1")
        if kind == "JavaScript" or (kind not in ("GoTo", "Named", "Launch", "URI") and auto):
            if kind == "JavaScript":
                for code in _raw_js(scan, text):
                    facts.add_js(code, where, auto)
            else:
                facts.auto_actions.add(kind)
        if kind == "Launch":
            win = [v for k, v in raw.read_value(text, b"Win") if k == "dict" and isinstance(v, bytes)]
            target = " ".join(_raw_strings(scan, win[0] if win else text, b"F")[:1])
            params = " ".join(_raw_strings(scan, win[0], b"P")[:1]) if win else ""
            key = (target + " " + params).strip() or "(no target)"
            facts.launches[key] = facts.launches.get(key, False) or auto
        elif kind == "URI":
            for u in _raw_strings(scan, text, b"URI"):
                facts.uris[u] = facts.uris.get(u, False) or auto
            if auto:
                facts.auto_actions.add("URI")
        elif kind in REMOTE_KINDS:
            for t in _raw_strings(scan, text, b"F")[:3]:
                facts.remote.add(f"{kind} {t}")
    if b"/JS" in text and b"/S" not in text:
        for code in _raw_js(scan, text):
            facts.add_js(code, where, auto)


def raw_facts(scan: raw.RawScan, facts: Facts) -> None:
    for text in _auto_texts(scan):
        _raw_action(scan, text, facts, "OpenAction/AA", True)
    names: dict[tuple[int, int], str] = {}
    for obj in scan.objects.values():
        t = obj.dict_text
        if b"/EF" in t:
            fname = next(iter(_raw_strings(scan, t, b"UF") or _raw_strings(scan, t, b"F")), "")
            for kind, val in raw.read_value(t, b"EF"):
                if kind == "dict" and isinstance(val, bytes):
                    for a, b in re.findall(rb"(\d+)\s+(\d+)\s+R", val):
                        names[(int(a), int(b))] = fname
    for key, obj in list(scan.objects.items()):
        t = obj.dict_text
        if b"/S" in t or b"/JS" in t:
            _raw_action(scan, t, facts, "object", False)
        if b"/URI" in t:
            for u in _raw_strings(scan, t, b"URI"):
                facts.uris.setdefault(u, False)
        if b"/RichMedia" in t:
            facts.richmedia = True
        if b"/AcroForm" in t:
            facts.acroform = True
        if b"/XFA" in t:
            facts.xfa = True
            for kind, val in raw.read_value(t, b"XFA"):
                if kind == "ref" and isinstance(val, tuple):
                    _check_xfa(scan, [val], facts)
            arr = re.search(rb"/XFA\s*\[([^\]]*)\]", t)
            if arr:
                _check_xfa(
                    scan,
                    [(int(a), int(b)) for a, b in re.findall(rb"(\d+)\s+(\d+)\s+R", arr.group(1))],
                    facts,
                )
        if re.search(rb"/Type\s*/EmbeddedFile\b", t) and obj.stream_raw is not None:
            data = scan.stream(obj)
            if data is not None:
                facts.add_embedded(names.get(key, ""), data)


def _check_xfa(scan: raw.RawScan, refs: list[tuple[int, int]], facts: Facts) -> None:
    for ref in refs[:50]:
        o = scan.get(*ref)
        data = scan.stream(o) if o is not None else None
        if data and re.search(rb"(?i)<script\b", data):
            facts.xfa_script = True
            m = re.search(rb"(?is)<script\b[^>]*>(.*?)</script>", data)
            if m:
                facts.add_js(m.group(1).decode("utf-8", "replace"), "XFA", False)
