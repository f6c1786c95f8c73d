"""A tolerant RTF tokenizer that rebuilds embedded-object payloads the way Microsoft Word reads them.

Why hand-written: the RTF specification is far stricter than Word's reader, and exploit kits (Royal Road
/ 8.t, the 2018 "byte nibble" builders, ThreadKit …) live in the gap. ``oletools.rtfobj`` follows the
specification closely and is used first by ``rtf.py``; this module is the adversarial second opinion.
It emulates the Word behaviours that matter for ``\\objdata``:

* the header only has to start with ``{\\rt`` (``{\\rtvpn``, ``{\\rtf`` without a version all load);
* whitespace, CR/LF, unknown control words (with or without numeric parameters) and control symbols
  inside hex data are skipped; a nested group with a destination of its own (``{\\hlsrc …}``,
  ``{\\mlimLow …}``) is skipped, a nested group without one keeps feeding the same hex stream, and an
  ignorable group ``{\\*\\word …}`` is skipped only when Word does not know ``word`` (``{\\*\\par1 0}``
  still feeds it). Which words Word knows is not fully documented, so both readings are kept;
* ``\\binN`` splices N raw bytes into the stream;
* ``\\'hh`` inside hex data is dropped *together with a preceding hex digit*; Word drops that digit
  when an odd number of digits has been read so far, and some builders rely on it being dropped
  whenever it directly precedes the escape. Both readings are kept and the one that yields a valid
  OLE 1.0 object wins (``candidates``);
* a trailing odd hex digit is ignored;
* ``\\objdata`` is honoured wherever it occurs, also inside groups Word would skip and under overlong
  spellings (``\\objdataXYZ``), because for triage hiding it is itself the signal.

Everything is linear in the input: one compiled regex advances through the bytes, hex digits go into
``bytearray`` buffers, and objects, bytes and token counts are capped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from aptcatch.capture.formats.rtf_words import DESTINATIONS, OBJECT_FLAGS

# Token kinds
OPEN, CLOSE, WORD, SYMBOL, HEXCHAR, BIN, TEXT = range(7)

Token = tuple[int, int, bytes, int | None]
"""(kind, offset, value, parameter): WORD → name/param, HEXCHAR → raw two chars/byte value or None,
BIN → raw bytes, TEXT → text run, SYMBOL → the character."""

_TOKEN = re.compile(
    rb"(\{)|(\})|\\([A-Za-z]{1,250})(-?[0-9]{1,250})? ?|\\'([\s\S]{0,2})|\\([\s\S])|([^{}\\]+)|(\\)\Z"
)
_HEXVAL = re.compile(rb"[0-9A-Fa-f]{2}")
_NOT_HEX = re.compile(rb"[^0-9A-Fa-f]+")
_WS = re.compile(rb"[ \t\r\n\f\v]+")


def tokens(data: bytes, max_tokens: int = 20_000_000) -> Iterator[Token]:
    """Yield RTF tokens; never fails, whatever the bytes."""
    pos, end, count = 0, len(data), 0
    match = _TOKEN.match
    while pos < end and count < max_tokens:
        count += 1
        m = match(data, pos)
        if m is None:  # cannot happen with the alternatives above, but stay safe
            pos += 1
            continue
        start, pos = pos, m.end()
        if m.group(7) is not None:
            yield TEXT, start, m.group(7), None
        elif m.group(1) is not None:
            yield OPEN, start, b"{", None
        elif m.group(2) is not None:
            yield CLOSE, start, b"}", None
        elif m.group(3) is not None:
            name = m.group(3)
            param = m.group(4)
            value = int(param[:12]) if param else None
            if name == b"bin":
                n = max(value or 0, 0)
                raw = data[pos : pos + n]
                pos += len(raw)
                yield BIN, start, raw, n
            else:
                yield WORD, start, name, value
        elif m.group(5) is not None:
            raw = m.group(5)
            yield HEXCHAR, start, raw, int(raw, 16) if _HEXVAL.fullmatch(raw) else None
        elif m.group(6) is not None:
            yield SYMBOL, start, m.group(6), None
        else:
            yield SYMBOL, start, b"\\", None


@dataclass
class ObjectGroup:
    """One ``{\\object …}`` group: class name and the object control words seen in it."""

    start: int
    classname: bytearray = field(default_factory=bytearray)
    class_escaped: bool = False
    flags: set[str] = field(default_factory=set)


@dataclass
class ObjData:
    """One ``\\objdata`` destination, reconstructed two ways (see module docstring)."""

    start: int
    group: ObjectGroup | None
    odd_rule: bytearray = field(default_factory=bytearray)
    adjacent_rule: bytearray = field(default_factory=bytearray)
    odd_strict: bytearray = field(default_factory=bytearray)
    adjacent_strict: bytearray = field(default_factory=bytearray)
    hidden: str = ""
    whitespace: int = 0
    junk_words: int = 0
    junk_symbols: int = 0
    junk_groups: int = 0
    nested_groups: int = 0
    escapes: int = 0
    bins: int = 0
    nonhex_chars: int = 0
    truncated: bool = False
    closed: bool = False
    end: int = -1
    last_was_hex: bool = False

    def candidates(self) -> list[bytes]:
        """Decoded byte strings, most Word-like first (trailing odd digit dropped)."""
        out: list[bytes] = []
        for buf in (self.odd_rule, self.adjacent_rule, self.odd_strict, self.adjacent_strict):
            digits = bytes(buf[: len(buf) & ~1])
            decoded = bytes.fromhex(digits.decode("ascii"))
            if decoded not in out:
                out.append(decoded)
        return out


@dataclass
class _Frame:
    dest: str
    first: bool = True
    star: bool = False
    objdata: ObjData | None = None
    owns_objdata: bool = False
    group: ObjectGroup | None = None
    skipped: bool = False
    loose: bool = False


@dataclass
class RtfStructure:
    header: bytes = b""
    objects: list[ObjData] = field(default_factory=list)
    object_groups: list[ObjectGroup] = field(default_factory=list)
    fonts: int = 0
    template: bytearray = field(default_factory=bytearray)
    shape_props: list[tuple[str, bytes]] = field(default_factory=list)
    objupdate: int = 0
    overlong_objdata: int = 0
    unbalanced_close: int = 0
    unclosed_groups: int = 0
    trailing_bytes: int = 0
    objects_capped: bool = False


class _Collector:
    def __init__(self, max_objects: int, max_hex: int) -> None:
        self.max_objects = max_objects
        self.max_hex = max_hex
        self.s = RtfStructure()
        self.stack: list[_Frame] = [_Frame("root")]
        self.sn: bytearray | None = None
        self.sv: bytearray | None = None
        self.last_sn = ""
        self.root_closed_at = -1

    # -- helpers ---------------------------------------------------------------------------------
    def _start_objdata(self, frame: _Frame, start: int, hidden: str) -> None:
        if len(self.s.objects) >= self.max_objects:
            self.s.objects_capped = True
            frame.dest = "skip"
            return
        group = next((f.group for f in reversed(self.stack) if f.group is not None), None)
        skipped = any(f.skipped for f in self.stack[:-1])
        if skipped and not hidden:
            hidden = "inside a destination Word skips"
        if self.root_closed_at >= 0 and not hidden:
            hidden = "after the end of the document"
        od = ObjData(start, group, hidden=hidden)
        self.s.objects.append(od)
        frame.objdata, frame.owns_objdata, frame.dest = od, True, "objdata"

    def _hex_text(self, od: ObjData, text: bytes, strict: bool) -> None:
        digits = _NOT_HEX.sub(b"", text)
        if len(digits) != len(text):
            ws = sum(len(w) for w in _WS.findall(text))
            od.whitespace += ws
            od.nonhex_chars += len(text) - len(digits) - ws
        od.last_was_hex = bool(digits) and _NOT_HEX.match(text[-1:]) is None
        if not digits:
            return
        if len(od.odd_rule) + len(digits) > self.max_hex:
            od.truncated = True
            return
        od.odd_rule += digits
        od.adjacent_rule += digits
        if strict:
            od.odd_strict += digits
            od.adjacent_strict += digits

    def _hex_escape(self, od: ObjData, strict: bool) -> None:
        od.escapes += 1
        bufs = (
            (od.odd_rule, od.adjacent_rule, od.odd_strict, od.adjacent_strict)
            if strict
            else (od.odd_rule, od.adjacent_rule)
        )
        for i, buf in enumerate(bufs):
            if (i % 2 == 0 and len(buf) & 1) or (i % 2 == 1 and od.last_was_hex and buf):
                del buf[-1]
        od.last_was_hex = False

    # -- token handlers --------------------------------------------------------------------------
    def feed(self, tok: Token) -> None:
        kind, pos, value, param = tok
        frame = self.stack[-1]
        od = frame.objdata if frame.dest == "objdata" else None
        if kind == OPEN:
            parent = frame
            new = _Frame(parent.dest, objdata=parent.objdata, skipped=parent.skipped, loose=parent.loose)
            if od is not None:
                od.nested_groups += 1
                od.last_was_hex = False
            self.stack.append(new)
            if len(self.stack) > 10_000:  # absurd nesting: flatten (Word has a limit too)
                self.stack.pop()
            return
        if kind == CLOSE:
            self._close(pos)
            return
        if kind == SYMBOL and value == b"*" and frame.first:
            frame.star = True
            return
        if kind == WORD:
            self._word(frame, pos, value.decode("ascii"), param, od)
            return
        frame.first = False
        if od is not None:
            strict = not frame.loose
            if kind == TEXT:
                self._hex_text(od, value, strict)
            elif kind == HEXCHAR:
                self._hex_escape(od, strict)
            elif kind == BIN:
                od.bins += 1
                if len(od.odd_rule) + 2 * len(value) <= self.max_hex:
                    hexed = value.hex().encode()
                    od.odd_rule += hexed
                    od.adjacent_rule += hexed
                    if strict:
                        od.odd_strict += hexed
                        od.adjacent_strict += hexed
                od.last_was_hex = False
            else:
                od.junk_symbols += 1
                od.last_was_hex = False
            return
        if frame.dest == "objclass":
            grp = self._group()
            if grp is not None and len(grp.classname) < 512:
                if kind == TEXT:
                    grp.classname += value
                elif kind == HEXCHAR and param is not None:
                    grp.classname.append(param)
                    grp.class_escaped = True
        elif frame.dest == "template" and kind in (TEXT, HEXCHAR) and len(self.s.template) < 4096:
            self.s.template += value if kind == TEXT else bytes([param or 0x3F])
        elif frame.dest == "sn" and self.sn is not None and kind == TEXT and len(self.sn) < 256:
            self.sn += value
        elif frame.dest == "sv" and self.sv is not None and kind == TEXT and len(self.sv) < 1 << 20:
            self.sv += value

    def _group(self) -> ObjectGroup | None:
        return next((f.group for f in reversed(self.stack) if f.group is not None), None)

    def _word(self, frame: _Frame, pos: int, name: str, param: int | None, od: ObjData | None) -> None:
        first, star = frame.first, frame.star
        frame.first = False
        if (name == "objdata" or (name.startswith("objdata") and len(name) > 7)) and (first or od is None):
            hidden = "" if first else "\\objdata in the middle of a group"
            if name != "objdata":
                self.s.overlong_objdata += 1
                hidden = f"overlong control word \\{name[:40]}"
            self._start_objdata(frame, pos, hidden)
            return
        if not first and od is not None and not frame.owns_objdata and name in DESTINATIONS:
            # {\\proptype\\staticval abc}: a destination word later in a nested group still moves it away
            od.junk_groups += 1
            frame.objdata, frame.dest = None, name
            return
        if first and name == "datastore":
            self._start_objdata(frame, pos, "datastore")
            return
        if first and star and od is not None and name not in DESTINATIONS:
            # {\\*\\par1 0}: Word skips the group only if it does not know the word; when it does
            # (a formatting word), the text still feeds the hex stream. Keep both readings.
            od.junk_groups += 1
            frame.loose = True
            return
        if first and (star or name in DESTINATIONS):
            if od is not None:
                od.junk_groups += 1
            frame.objdata = None
            frame.dest = name if name in DESTINATIONS else "skip"
            if star and name not in DESTINATIONS:
                frame.skipped = True
            if name == "object" and od is None:
                grp = ObjectGroup(pos)
                frame.group = grp
                if len(self.s.object_groups) < self.max_objects:
                    self.s.object_groups.append(grp)
            elif name == "sn":
                self.sn = bytearray()
            elif name == "sv":
                self.sv = bytearray()
            return
        if od is not None:
            od.junk_words += 1
            od.last_was_hex = False
            return
        if name in OBJECT_FLAGS:
            owner = self._group()
            if owner is not None:
                owner.flags.add(name)
            if name == "objupdate":
                self.s.objupdate += 1
        elif name == "f" and frame.dest == "fonttbl":
            self.s.fonts += 1

    def _close(self, pos: int) -> None:
        if len(self.stack) <= 1:
            self.s.unbalanced_close += 1
            return
        frame = self.stack.pop()
        if frame.owns_objdata and frame.objdata is not None:
            frame.objdata.closed = True
            frame.objdata.end = pos
        if frame.dest == "sn" and self.sn is not None:
            self.last_sn = self.sn.decode("latin-1").strip()
            self.sn = None
        elif frame.dest == "sv" and self.sv is not None:
            if len(self.s.shape_props) < 10_000:
                self.s.shape_props.append((self.last_sn, bytes(self.sv)))
            self.sv = None
        if len(self.stack) == 1 and self.root_closed_at < 0:
            self.root_closed_at = pos + 1


def parse_structure(data: bytes, max_objects: int = 256, max_hex: int = 128 * 1024 * 1024) -> RtfStructure:
    """Walk the whole file once and return its objects, hex payloads and structural oddities."""
    col = _Collector(max_objects, max_hex)
    col.s.header = data[:16]
    for tok in tokens(data):
        col.feed(tok)
    col.s.unclosed_groups = len(col.stack) - 1
    if col.root_closed_at >= 0:
        col.s.trailing_bytes = len(data[col.root_closed_at :].strip(b"\x00 \t\r\n"))
    return col.s
