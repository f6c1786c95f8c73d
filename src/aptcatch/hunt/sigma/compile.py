"""pySigma's parsed, pipeline-processed condition tree → the engine-neutral expression of :mod:`.ir`.

pySigma does the parsing, modifier expansion (``|windash``, ``|base64offset``, ``|contains|all`` …) and
the field mappings of the processing pipelines; this module only walks the resulting tree. Anything it
cannot express faithfully raises :class:`Unsupported` with the reason, so the rule is listed as not
converted instead of silently matching nothing.

Values matched case-insensitively are stored lowered with :func:`.ir.lower` (the engines' mapping), so
an engine that lowers them again with ``str.lower`` changes nothing.
"""

from __future__ import annotations

from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

from aptcatch.hunt.sigma import ir


class Unsupported(Exception):
    """A rule construct this engine does not evaluate; the message is the reason shown to the user."""


_NUM_OPS: dict[CompareOperators, ir.NumOp] = {
    CompareOperators.LT: "lt",
    CompareOperators.LTE: "lte",
    CompareOperators.GT: "gt",
    CompareOperators.GTE: "gte",
}
_RE_FLAGS = {
    SigmaRegularExpressionFlag.IGNORECASE: "i",
    SigmaRegularExpressionFlag.MULTILINE: "m",
    SigmaRegularExpressionFlag.DOTALL: "s",
}


def _pattern(value: SigmaString) -> tuple[ir.StrOp, str]:
    """The match operator and value for a Sigma string (wildcards ``*``/``?``, literal ones escaped)."""
    parts: list[Any] = list(value.s)
    if any(isinstance(p, Placeholder) for p in parts):
        raise Unsupported(f"unresolved placeholder in value {value}")
    lead = bool(parts) and parts[0] is SpecialChars.WILDCARD_MULTI
    trail = len(parts) > int(lead) and parts[-1] is SpecialChars.WILDCARD_MULTI
    core = parts[int(lead) : len(parts) - int(trail)]
    if not any(isinstance(p, SpecialChars) for p in core):
        text = "".join(str(p) for p in core)
        if lead and trail:
            return ("contains", text) if text else ("like", "*")
        return ("endswith" if lead else "startswith" if trail else "eq"), text
    out = []
    for p in parts:
        if p is SpecialChars.WILDCARD_MULTI:
            out.append("*")
        elif p is SpecialChars.WILDCARD_SINGLE:
            out.append("?")
        else:
            out.append(str(p).replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?"))
    return "like", "".join(out)


def _regex(value: SigmaRegularExpression) -> str:
    flags = "".join(sorted(_RE_FLAGS[f] for f in value.flags if f in _RE_FLAGS))
    pattern = str(value.regexp)
    return f"(?{flags}){pattern}" if flags else pattern


def _value(field: str | None, value: Any) -> ir.Expr:
    """One field (or keyword) / value pair."""
    if isinstance(value, SigmaExpansion):
        return ir.or_([_value(field, v) for v in value.values])
    if field is None:
        if isinstance(value, SigmaString):  # full-text: any field containing the value
            op, text = _pattern(value)
            pattern = text if op == "like" else _as_like(op, text)
            pattern = ("" if pattern.startswith("*") else "*") + pattern
            pattern += "" if pattern.endswith("*") and not pattern.endswith("\\*") else "*"
            cased = isinstance(value, SigmaCasedString)
            return ir.Keyword(pattern if cased else ir.lower(pattern), cased=cased)
        if isinstance(value, SigmaNumber):
            return ir.Keyword(f"*{value.number}*")
        raise Unsupported(f"keyword of type {type(value).__name__}")
    if isinstance(value, SigmaString):
        op, text = _pattern(value)
        cased = isinstance(value, SigmaCasedString)
        return ir.Match(field, op, text if cased else ir.lower(text), cased=cased)
    if isinstance(value, SigmaBool):
        return ir.Match(field, "eq", "true" if value.boolean else "false")
    if isinstance(value, SigmaNumber):
        return ir.Match(field, "eq", str(value.number))
    if isinstance(value, SigmaNull):
        return ir.IsNull(field)
    if isinstance(value, SigmaExists):
        return ir.Exists(field) if value.exists else ir.not_(ir.Exists(field))
    if isinstance(value, SigmaRegularExpression):
        return ir.Regex(field, _regex(value))
    if isinstance(value, SigmaCIDRExpression):
        pats = value.expand("*")
        return ir.or_([ir.Match(field, *_cidr_op(p)) for p in pats])
    if isinstance(value, SigmaCompareExpression):
        return ir.NumCmp(field, _NUM_OPS[value.op], float(value.number.number))
    if isinstance(value, SigmaFieldReference):
        if value.starts_with or value.ends_with:
            raise Unsupported("|fieldref with |startswith/|endswith")
        return ir.FieldEq(field, value.field)
    raise Unsupported(f"value of type {type(value).__name__} on field {field}")


def _cidr_op(pattern: str) -> tuple[ir.StrOp, str]:
    return ("startswith", pattern[:-1]) if pattern.endswith("*") else ("eq", pattern)


def _as_like(op: ir.StrOp, text: str) -> str:
    esc = text.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")
    return {"eq": esc, "contains": f"*{esc}*", "startswith": f"{esc}*", "endswith": f"*{esc}"}[op]


def convert(node: Any) -> ir.Expr:
    """A pySigma condition tree node → expression."""
    if isinstance(node, ConditionAND):
        return ir.and_([convert(a) for a in node.args])
    if isinstance(node, ConditionOR):
        return ir.or_([convert(a) for a in node.args])
    if isinstance(node, ConditionNOT):
        return ir.not_(convert(node.args[0]))
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return _value(node.field, node.value)
    if isinstance(node, ConditionValueExpression):
        return _value(None, node.value)
    raise Unsupported(f"condition element {type(node).__name__}")
