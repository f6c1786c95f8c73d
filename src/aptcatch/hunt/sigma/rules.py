"""Load Sigma rule files with pySigma, apply the Windows pipelines, compile each rule once, cache it.

The compiled form (:class:`CompiledRule`, :class:`Correlation`) is plain data that serialises to JSON,
so a rule set converted once (pySigma takes seconds for the ~3,000 SigmaHQ rules) is reused from the
cache until a rule file, aptcatch or pySigma changes. Every rule that could not be loaded or converted
is listed with its file and the reason.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aptcatch.hunt.sigma import cache_files, ir
from aptcatch.hunt.sigma.cache_files import cache_dir

_TECHNIQUE = re.compile(r"^attack\.(t\d{4}(?:\.\d{3})?)$", re.IGNORECASE)
_CACHE_VERSION = 2  # 2: case-insensitive values stored lowered (ir.lower)


@dataclass(frozen=True)
class CompiledRule:
    id: str
    title: str
    level: str
    status: str
    path: str
    logsource: dict[str, str]
    tags: tuple[str, ...]
    expr: ir.Expr
    name: str | None = None  # correlation rules may refer to a rule by name
    generate: bool = True  # False when only a correlation uses it and it should not alert alone

    @property
    def techniques(self) -> tuple[str, ...]:
        return tuple(m.group(1).upper() for t in self.tags if (m := _TECHNIQUE.match(t)))


@dataclass(frozen=True)
class Correlation:
    id: str
    title: str
    level: str
    path: str
    tags: tuple[str, ...]
    type: str  # event_count | value_count | temporal
    rules: tuple[str, ...]  # ids of the referenced rules
    group_by: tuple[str, ...]
    timespan: int  # seconds
    op: str  # gt gte lt lte eq neq
    count: int
    field: str | None = None  # value_count: the field whose distinct values are counted

    @property
    def techniques(self) -> tuple[str, ...]:
        return tuple(m.group(1).upper() for t in self.tags if (m := _TECHNIQUE.match(t)))


@dataclass(frozen=True)
class Failure:
    path: str
    rule: str  # id or title, or "" when the file itself failed
    reason: str


@dataclass
class RuleSet:
    rules: list[CompiledRule] = field(default_factory=list)
    correlations: list[Correlation] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    files: int = 0
    from_cache: bool = False
    key: str = ""  # the cache key: rule files, versions, compiler code (plans are cached under it too)


def rule_files(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.suffix in (".yml", ".yaml") and f.is_file())
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"no such rule file or folder: {p}")
    return out


# --- JSON form of expressions (the cache) ---------------------------------------------------------


def expr_to_json(e: ir.Expr) -> Any:
    if isinstance(e, ir.And | ir.Or):
        return {"t": type(e).__name__, "items": [expr_to_json(i) for i in e.items]}
    if isinstance(e, ir.Not):
        return {"t": "Not", "item": expr_to_json(e.item)}
    return {"t": type(e).__name__, **asdict(e)}


_LEAVES: dict[str, Any] = {
    c.__name__: c for c in (ir.Const, ir.Match, ir.Regex, ir.NumCmp, ir.Exists, ir.IsNull, ir.FieldEq)
}
_LEAVES["Keyword"] = ir.Keyword


def expr_from_json(d: Any) -> ir.Expr:
    t = d["t"]
    if t == "And":
        return ir.And(tuple(expr_from_json(i) for i in d["items"]))
    if t == "Or":
        return ir.Or(tuple(expr_from_json(i) for i in d["items"]))
    if t == "Not":
        return ir.Not(expr_from_json(d["item"]))
    return _LEAVES[t](**{k: v for k, v in d.items() if k != "t"})  # type: ignore[no-any-return]


def _ruleset_to_json(rs: RuleSet) -> dict[str, Any]:
    return {
        "version": _CACHE_VERSION,
        "files": rs.files,
        "rules": [{**asdict(r), "expr": expr_to_json(r.expr)} for r in rs.rules],
        "correlations": [asdict(c) for c in rs.correlations],
        "failures": [asdict(f) for f in rs.failures],
    }


def _ruleset_from_json(d: dict[str, Any]) -> RuleSet:
    rules = [
        CompiledRule(**{**r, "tags": tuple(r["tags"]), "expr": expr_from_json(r["expr"])}) for r in d["rules"]
    ]
    corr = [
        Correlation(
            **{**c, "tags": tuple(c["tags"]), "rules": tuple(c["rules"]), "group_by": tuple(c["group_by"])}
        )
        for c in d["correlations"]
    ]
    return RuleSet(rules, corr, [Failure(**f) for f in d["failures"]], d["files"], from_cache=True)


def _cache_key(files: Sequence[Path], pipeline: str) -> str:
    import sigma

    from aptcatch import __version__

    h = hashlib.sha256()
    h.update(f"{_CACHE_VERSION}|{__version__}|{getattr(sigma, '__version__', '')}|{pipeline}".encode())
    try:
        from importlib.metadata import version

        h.update(version("pysigma").encode())
    except Exception:
        pass
    here = Path(__file__).parent  # the compiler's own code: a change to it invalidates the cache
    for module in ("compile.py", "convert.py", "ir.py", "rules.py"):
        h.update(hashlib.sha256((here / module).read_bytes()).digest())
    for f in files:
        h.update(str(f.resolve()).encode() + b"\0")
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


def load_rules(paths: Sequence[Path], *, pipeline: str = "windows", use_cache: bool = True) -> RuleSet:
    """Every rule and correlation under ``paths``, compiled; from the cache when nothing changed.

    ``pipeline``: ``windows`` applies pySigma's sysmon and windows-logsource pipelines (field names and
    Channel/EventID conditions for Windows event logs); ``none`` uses the rules' fields as written.
    """
    files = rule_files(paths)
    key = _cache_key(files, pipeline)
    path = cache_dir() / f"{key}.json"
    if use_cache and path.is_file():
        try:
            cached = _ruleset_from_json(json.loads(path.read_text(encoding="utf-8")))
            cached.key = key
            cache_files.used(path)
            return cached
        except (ValueError, KeyError, TypeError):
            pass  # a damaged cache entry is rebuilt below
    from aptcatch.hunt.sigma.convert import convert_files

    rs = convert_files(files, pipeline)
    rs.key = key
    if use_cache:
        cache_files.write(path, json.dumps(_ruleset_to_json(rs)))
    return rs
