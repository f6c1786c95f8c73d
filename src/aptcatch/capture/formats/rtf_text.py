"""Visible text, document information and language settings of an RTF file.

Uses the tolerant tokenizer of ``rtf_deobf`` (no maintained Python library decodes RTF text with
per-font code pages and ``\\uN`` fallbacks while surviving malformed input). ``\\'hh`` bytes are decoded
with the code page of the current font's ``\\fcharset`` or else the document's ``\\ansicpg`` (e.g. 936 →
GBK), consecutive escapes together so that double-byte characters come out whole.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field

from aptcatch.capture.formats.rtf_deobf import BIN, CLOSE, HEXCHAR, OPEN, SYMBOL, TEXT, WORD, tokens

CHARSET_CODEPAGE = {
    0: 1252, 128: 932, 129: 949, 130: 1361, 134: 936, 136: 950, 161: 1253, 162: 1254, 163: 1258,
    177: 1255, 178: 1256, 186: 1257, 204: 1251, 222: 874, 238: 1250,
}  # fmt: skip

SKIP_DESTINATIONS = frozenset(
    [
        "fonttbl",
        "colortbl",
        "stylesheet",
        "info",
        "pict",
        "objdata",
        "objclass",
        "objname",
        "objalias",
        "objsect",
        "themedata",
        "colorschememapping",
        "datastore",
        "latentstyles",
        "listtable",
        "listoverridetable",
        "revtbl",
        "rsidtbl",
        "generator",
        "xmlnstbl",
        "filetbl",
        "pgptbl",
        "protusertbl",
        "mmathPr",
        "fldinst",
        "template",
        "docvar",
        "userprops",
        "bkmkstart",
        "bkmkend",
        "shpinst",
        "sn",
        "sv",
        "picprop",
        "blipuid",
        "falt",
        "panose",
        "listtext",
        "pntext",
        "pntxta",
        "pntxtb",
        "wgrffmtfilter",
        "datafield",
        "ffname",
        "ffdeftext",
        "ffformat",
        "ffhelptext",
        "ffstattext",
        "ffentrymcr",
        "ffexitmcr",
        "passwordhash",
        "writereservation",
        "writereservhash",
    ]
)
INFO_FIELDS = {
    "title": "title", "subject": "subject", "author": "author", "operator": "last_saved_by",
    "company": "company", "manager": "manager", "category": "category", "keywords": "keywords",
    "doccomm": "comments", "hlinkbase": "hyperlink_base",
}  # fmt: skip
TIME_FIELDS = {"creatim": "created", "revtim": "modified", "printim": "printed"}
BREAKS = {"par": "\n", "line": "\n", "sect": "\n\n", "page": "\n\n", "row": "\n", "cell": "\t", "tab": "\t"}
SPECIALS = {
    "emdash": "—", "endash": "–", "lquote": "‘", "rquote": "’", "ldblquote": "“", "rdblquote": "”",
    "bullet": "•", "emspace": " ", "enspace": " ", "qmspace": " ",
}  # fmt: skip
_DESTS = (
    SKIP_DESTINATIONS
    | set(INFO_FIELDS)
    | set(TIME_FIELDS)
    | {"object", "result", "field", "fldrslt", "shp", "shptxt", "shprslt", "header", "footer"}
    | {"footnote", "annotation", "headerl", "headerr", "headerf", "footerl", "footerr", "footerf"}
)


@dataclass
class _Frame:
    dest: str
    first: bool = True
    star: bool = False
    font: int | None = None
    uc: int = 1


@dataclass
class RtfText:
    text: str = ""
    codepage: int | None = None
    deflang: int | None = None
    deflangfe: int | None = None
    info: dict[str, str] = field(default_factory=dict)
    field_instructions: list[str] = field(default_factory=list)


_COLLECT = frozenset({"body", "fldinst", *INFO_FIELDS})


def _decode(raw: bytes, cp: int) -> str:
    try:
        return codecs.decode(raw, f"cp{cp}", "replace")
    except LookupError:
        return raw.decode("latin-1")


class _TextWalker:
    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.out: list[str] = []
        self.size = 0
        self.r = RtfText()
        self.stack = [_Frame("body")]
        self.pending = bytearray()
        self.skip_chars = 0
        self.fonts: dict[int, int] = {}
        self.cur_font: int | None = None
        self.info_buf: dict[str, list[str]] = {}
        self.times: dict[str, dict[str, int]] = {}
        self.fld: list[str] = []

    def _codepage(self, frame: _Frame) -> int:
        if frame.font is not None and frame.font in self.fonts:
            cs = self.fonts[frame.font]
            if cs in CHARSET_CODEPAGE and cs != 0:
                return CHARSET_CODEPAGE[cs]
        return self.r.codepage or 1252

    def _emit(self, frame: _Frame, s: str) -> None:
        if not s:
            return
        if frame.dest in INFO_FIELDS:
            self.info_buf.setdefault(frame.dest, []).append(s)
        elif frame.dest == "fldinst":
            if sum(len(x) for x in self.fld) < 100_000:
                self.fld.append(s)
        elif frame.dest == "body" and self.size < self.max_chars:
            self.out.append(s)
            self.size += len(s)

    def _flush(self, frame: _Frame) -> None:
        if not self.pending:
            return
        raw = bytes(self.pending)
        self.pending.clear()
        self._emit(frame, _decode(raw, self._codepage(frame)))

    def feed(self, kind: int, value: bytes, param: int | None) -> None:
        frame = self.stack[-1]
        if kind != HEXCHAR:
            self._flush(frame)
        if kind == OPEN:
            self.stack.append(_Frame(frame.dest, font=frame.font, uc=frame.uc))
            if len(self.stack) > 10_000:
                self.stack.pop()
            return
        if kind == CLOSE:
            if len(self.stack) > 1:
                self.stack.pop()
            return
        if kind == SYMBOL:
            if value == b"*" and frame.first:
                frame.star = True
                return
            frame.first = False
            if value in (b"{", b"}", b"\\"):
                self._text(frame, value.decode())
            elif value == b"~":
                self._text(frame, "\u00a0")
            elif value in (b"\n", b"\r"):
                self._text(frame, "\n")
            return
        if kind == WORD:
            self._word(frame, value.decode("ascii"), param)
            return
        first = frame.first
        frame.first = False
        if first and frame.star:
            frame.dest = "skip"
        if frame.dest not in _COLLECT:
            self.skip_chars = 0
            return
        if kind == HEXCHAR:
            if self.skip_chars > 0:
                self.skip_chars -= 1
            elif param is not None:
                self.pending.append(param)
        elif kind == TEXT:
            text = value.replace(b"\r", b"").replace(b"\n", b"")
            if self.skip_chars > 0:
                cut = min(self.skip_chars, len(text))
                self.skip_chars -= cut
                text = text[cut:]
            if frame.dest == "fonttbl":
                return
            if text:
                self.pending += text
                self._flush(frame)
        elif kind == BIN:
            self.skip_chars = 0

    def _text(self, frame: _Frame, s: str) -> None:
        if self.skip_chars > 0:
            self.skip_chars -= 1
            return
        self._emit(frame, s)

    def _word(self, frame: _Frame, name: str, param: int | None) -> None:
        first = frame.first
        frame.first = False
        if first and (frame.star or name in _DESTS):
            if name in SKIP_DESTINATIONS and name not in ("fonttbl", "info", "fldinst"):
                frame.dest = "skip"
            elif name in ("fonttbl", "info", "fldinst") or name in INFO_FIELDS or name in TIME_FIELDS:
                frame.dest = name
            elif frame.star:
                frame.dest = "skip"
            return
        if frame.dest in TIME_FIELDS and name in ("yr", "mo", "dy", "hr", "min") and param is not None:
            self.times.setdefault(frame.dest, {})[name] = param
            return
        if name == "f" and param is not None:
            if frame.dest == "fonttbl":
                self.cur_font = param
            else:
                frame.font = param
        elif name == "fcharset" and param is not None and self.cur_font is not None:
            if frame.dest == "fonttbl":
                self.fonts[self.cur_font] = param
        elif name == "ansicpg" and param is not None and self.r.codepage is None:
            self.r.codepage = param
        elif name == "deflang" and param is not None and self.r.deflang is None:
            self.r.deflang = param
        elif name == "deflangfe" and param is not None and self.r.deflangfe is None:
            self.r.deflangfe = param
        elif name == "uc" and param is not None:
            frame.uc = max(0, min(param, 10))
        elif name == "u" and param is not None:
            code = param + 65536 if param < 0 else param
            self._text(frame, chr(code) if 0 < code < 0x110000 and not 0xD800 <= code < 0xE000 else "?")
            self.skip_chars = frame.uc
        elif name in BREAKS:
            self._text(frame, BREAKS[name])
        elif name in SPECIALS:
            self._text(frame, SPECIALS[name])

    def finish(self) -> RtfText:
        self._flush(self.stack[-1])
        text = "".join(self.out)
        lines = [" ".join(ln.split()) for ln in text.splitlines()]
        self.r.text = "\n".join(ln for ln in lines if ln)
        for key, parts in self.info_buf.items():
            value = " ".join("".join(parts).split())
            if value:
                self.r.info[INFO_FIELDS[key]] = value[:500]
        for key, t in self.times.items():
            if "yr" in t:
                stamp = f"{t['yr']:04d}-{t.get('mo', 1):02d}-{t.get('dy', 1):02d}T"
                stamp += f"{t.get('hr', 0):02d}:{t.get('min', 0):02d}:00"
                self.r.info[TIME_FIELDS[key]] = stamp
        joined = "".join(self.fld)
        self.r.field_instructions = [" ".join(joined.split())[:20_000]] if joined.strip() else []
        return self.r


def extract_text(data: bytes, max_chars: int = 200_000) -> RtfText:
    walker = _TextWalker(max_chars)
    for kind, _pos, value, param in tokens(data):
        walker.feed(kind, value, param)
    return walker.finish()
