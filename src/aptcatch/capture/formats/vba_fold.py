"""Fast folding of obfuscated VBA string expressions, in linear passes of regular expressions.

olevba's own de-obfuscation (``deobfuscate=True``) parses every VBA expression with pyparsing: on the
live Emotet corpus it spends 2–20 s per document (80 % of a whole scan), so it is not used. What
reveals URLs and command lines in lure macros is a small set of idioms, folded here until nothing
changes: ``Chr(104) & "ttp"`` (Chr/ChrW/ChrB/ChrW$ of decimal or ``&H`` numbers), adjacent literals joined
with ``&`` or ``+``, ``StrReverse("…")``, ``Replace("…", "x", "y")``, ``LCase/UCase("…")`` and
``Mid("…", a, b)``, line continuations, and variables assigned a single constant string that are then
concatenated (``s1 = "reg" … cmd = s1 & s2``). The result is the folded source and the string literals
it now holds.
"""

from __future__ import annotations

import re

MAX_SOURCE = 2 * 1024 * 1024
MAX_PASSES = 8
_LIT = r'"(?:[^"\r\n]|"")*"'

_NUM = r"(?:&H[0-9A-F]{1,6}|\d{1,7})"
_CHR = re.compile(rf"(?i)\bChr[BW]?\$?\(\s*({_NUM}(?:\s*[-+*]\s*{_NUM}){{0,8}})\s*\)")
_TERM = re.compile(rf"(?i)([-+*]?)\s*({_NUM})")
_CONCAT = re.compile(rf"({_LIT})\s*[&+]\s*({_LIT})")
_REVERSE = re.compile(rf"(?i)\bStrReverse\$?\(\s*({_LIT})\s*\)")
_REPLACE = re.compile(rf"(?i)\bReplace\$?\(\s*({_LIT})\s*,\s*({_LIT})\s*,\s*({_LIT})\s*\)")
_CASE = re.compile(rf"(?i)\b(LCase|UCase)\$?\(\s*({_LIT})\s*\)")
_MID = re.compile(rf"(?i)\bMid\$?\(\s*({_LIT})\s*,\s*(\d{{1,6}})\s*(?:,\s*(\d{{1,6}})\s*)?\)")
_PAREN = re.compile(rf"\(\s*({_LIT})\s*\)")
_LITERAL = re.compile(_LIT)
_CONTINUATION = re.compile(r"[ \t]_[ \t]*\r?\n[ \t]*")
_ASSIGN = re.compile(rf"(?im)^[ \t]*(?:(?:Set|Let)[ \t]+)?([A-Za-z_]\w{{0,63}})[ \t]*=[ \t]*({_LIT})[ \t]*$")
MAX_VARIABLES = 2000


def _unquote(lit: str) -> str:
    return lit[1:-1].replace('""', '"')


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _number(raw: str) -> int:
    return int(raw[2:], 16) if raw[:2].lower() == "&h" else int(raw)


def _arith(expr: str) -> int:
    """Value of ``a op b op c`` with + - * (products bind first), e.g. ``Chr(60 + 5)``."""
    sums: list[int] = []
    for op, raw in _TERM.findall(expr):
        n = _number(raw)
        if op == "*" and sums:
            sums[-1] *= n
        else:
            sums.append(-n if op == "-" else n)
    return sum(sums)


def _chr(m: re.Match[str]) -> str:
    n = _arith(m.group(1))
    if not 0 < n < 0x110000 or n in (10, 13):
        return m.group(0)
    return _quote(chr(n))


def _mid(m: re.Match[str]) -> str:
    text = _unquote(m.group(1))
    start = max(int(m.group(2)) - 1, 0)
    length = int(m.group(3)) if m.group(3) else len(text)
    return _quote(text[start : start + length])


def _propagate(code: str) -> str:
    """Put constant strings in place of variables used in ``&`` chains (assigned once, to a literal)."""
    assigned: dict[str, list[str]] = {}
    for m in _ASSIGN.finditer(code):
        assigned.setdefault(m.group(1).lower(), []).append(m.group(2))
    consts = {k: v[0] for k, v in assigned.items() if len(v) == 1}
    if not consts or len(consts) > MAX_VARIABLES:
        return code
    names = "|".join(re.escape(k) for k in sorted(consts, key=len, reverse=True))
    chain = re.compile(rf"(?i)(&\s*)\b({names})\b(?!\s*=)|(?<![\w.])\b({names})\b(?=\s*&)")

    def swap(m: re.Match[str]) -> str:
        if m.group(2):
            return m.group(1) + consts[m.group(2).lower()]
        return consts[m.group(3).lower()]

    return chain.sub(swap, code)


def fold(source: str) -> str:
    """The source with constant string expressions evaluated."""
    code = _CONTINUATION.sub(" ", source[:MAX_SOURCE])
    for _ in range(MAX_PASSES):
        before = code
        code = _CHR.sub(_chr, code)
        code = _REVERSE.sub(lambda m: _quote(_unquote(m.group(1))[::-1]), code)
        code = _REPLACE.sub(
            lambda m: (
                _quote(_unquote(m.group(1)).replace(_unquote(m.group(2)), _unquote(m.group(3))))
                if _unquote(m.group(2))
                else m.group(0)
            ),
            code,
        )
        code = _CASE.sub(
            lambda m: _quote(
                _unquote(m.group(2)).lower()
                if m.group(1).lower() == "lcase"
                else _unquote(m.group(2)).upper()
            ),
            code,
        )
        code = _MID.sub(_mid, code)
        code = _PAREN.sub(lambda m: m.group(1), code)
        while True:
            joined = _CONCAT.sub(lambda m: _quote(_unquote(m.group(1)) + _unquote(m.group(2))), code)
            if joined == code:
                break
            code = joined
        code = _propagate(code)
        if code == before:
            break
    return code


def folded_strings(source: str, min_len: int = 6) -> list[str]:
    """String literals of the folded source that did not appear as such in the original."""
    original = {_unquote(m.group(0)) for m in _LITERAL.finditer(source[:MAX_SOURCE])}
    out: list[str] = []
    seen: set[str] = set()
    for m in _LITERAL.finditer(fold(source)):
        s = _unquote(m.group(0))
        if len(s) >= min_len and s not in original and s not in seen:
            seen.add(s)
            out.append(s)
    return out
