"""Rule files → :class:`~aptcatch.hunt.sigma.rules.RuleSet` with pySigma (parsing, pipelines, references).

Correlation rules may name rules of other files, and Sigma filters (``filter:`` documents) may apply to
rules of other files, so both are resolved over the whole set after every file was parsed. Whatever
yields no rule (an empty file, a broken document, an unknown collection action, a rule a filter cannot
be applied to) is listed as a failure with its file and the reason.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aptcatch.hunt.sigma import ir
from aptcatch.hunt.sigma.compile import Unsupported, convert
from aptcatch.hunt.sigma.rules import CompiledRule, Correlation, Failure, RuleSet

MAX_RULE_FILE = 1 << 20  # a Sigma rule is a few KiB; anything this large is not one


# SigmaHQ's proxy log source names its fields as W3C extended logs do; the proxy readers (Squid, a
# CSV/JSON file mapped to these columns) give ECS names. Fields no reader fills (cs-cookie, cs-bytes,
# cs-version …) stay as written, so a rule on them is reported blind. ``c-uri`` is the URL as the proxy
# logged it: the full URL for Squid (a rule's ``c-uri|contains: '/path'`` matches it, an exact path
# value does not).
PROXY_FIELDS: dict[str, str] = {
    "c-uri": "url.full",
    "cs-uri": "url.full",
    "c-uri-stem": "url.path",
    "cs-uri-stem": "url.path",
    "c-uri-query": "url.query",
    "cs-uri-query": "url.query",
    "c-uri-extension": "url.extension",
    "cs-host": "url.domain",
    "r-dns": "url.domain",
    "c-useragent": "user_agent.original",
    "cs-method": "http.request.method",
    "sc-status": "http.response.status_code",
    "cs-referrer": "http.request.referrer",
    "c-ip": "source.ip",
    "src_ip": "source.ip",
    "dst_ip": "destination.ip",
    "cs-username": "user.name",
}


def _proxy_pipeline() -> Any:
    """Field names of ``category: proxy`` rules → the proxy readers' columns (:data:`PROXY_FIELDS`)."""
    from sigma.processing.conditions import LogsourceCondition
    from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
    from sigma.processing.transformations import FieldMappingTransformation

    mapping: dict[str | None, str | list[str]] = {k: v for k, v in PROXY_FIELDS.items()}
    item = ProcessingItem(
        identifier="aptcatch_proxy_fields",
        transformation=FieldMappingTransformation(mapping),
        rule_conditions=[LogsourceCondition(category="proxy")],
    )
    return ProcessingPipeline(name="aptcatch proxy fields", priority=20, items=[item])


def _pipeline(name: str) -> Any:
    if name == "none":
        return None
    if name != "windows":
        raise ValueError(f"unknown Sigma pipeline {name!r} (windows, none)")
    from sigma.pipelines.sysmon import sysmon_pipeline  # type: ignore[attr-defined]
    from sigma.pipelines.windows import windows_logsource_pipeline  # type: ignore[attr-defined]

    return sysmon_pipeline() + windows_logsource_pipeline() + _proxy_pipeline()


def _ident(rule: Any) -> str:
    return str(rule.id) if rule.id is not None else str(rule.title or rule.name or "?")


def _meta(rule: Any) -> dict[str, Any]:
    return {
        "id": _ident(rule),
        "title": str(rule.title or ""),
        "level": rule.level.name.lower() if rule.level is not None else "unknown",
        "tags": tuple(f"{t.namespace}.{t.name}" for t in rule.tags),
    }


def _dataset_gate(logsource: dict[str, str]) -> list[ir.Expr]:
    """Log sources the pipelines do not map, as a condition on the reader's ``event.dataset``.

    Zeek rules name the log as their service (``dns``, ``http``, ``smb_files`` …); the Zeek reader puts
    ``zeek.<log>`` in ``event.dataset``, constant per file, so a rule for one log never runs on another.
    Rules of other products (cisco, linux …) need a dataset of that product: keyword rules written for a
    router's log must not fire on a Zeek or Windows event that happens to contain the word.
    """
    product = logsource.get("product")
    if product == "zeek" and (service := logsource.get("service")):
        return [ir.Match("event.dataset", "eq", f"zeek.{service}")]
    if product and product not in ("windows", "zeek"):  # cisco, linux, aws …: only their own datasets
        return [ir.Match("event.dataset", "startswith", f"{product}.")]
    return []


def _compile(rule: Any, pipeline: Any, path: str) -> CompiledRule:
    ls = rule.logsource
    logsource = {k: v for k in ("product", "category", "service") if (v := getattr(ls, k, None))}
    if pipeline is not None:
        pipeline.apply(rule)
    conditions = rule.detection.parsed_condition
    expr = ir.and_([*_dataset_gate(logsource), ir.or_([convert(c.parsed) for c in conditions])])
    return CompiledRule(
        **_meta(rule),
        status=rule.status.name.lower() if rule.status is not None else "unknown",
        path=path,
        logsource=logsource,
        expr=expr,
        name=rule.name,
    )


def _correlation(rule: Any, path: str) -> Correlation:
    ctype = str(rule.type.name).lower()
    if ctype not in ("event_count", "value_count", "temporal"):
        raise Unsupported(f"correlation type {ctype}")
    cond = rule.condition
    refs = tuple(_ident(r.rule) for r in rule.rules or ())
    if ctype == "temporal" and not hasattr(cond, "op"):  # temporal: all referenced rules, any count
        cond = type(
            "_All", (), {"op": type("_Op", (), {"name": "gte"}), "count": len(refs), "fieldref": None}
        )
    if not hasattr(cond, "op"):
        raise Unsupported("extended correlation condition")
    fieldref = cond.fieldref
    if isinstance(fieldref, list):
        if len(fieldref) != 1:
            raise Unsupported("value_count over several fields")
        fieldref = fieldref[0]
    if ctype == "value_count" and not fieldref:
        raise Unsupported("value_count without a field")
    return Correlation(
        **_meta(rule),
        path=path,
        type=ctype,
        rules=refs,
        group_by=tuple(rule.group_by or ()),
        timespan=int(rule.timespan.seconds),
        op=cond.op.name.lower(),
        count=int(cond.count),
        field=fieldref or None,
    )


def convert_files(files: Sequence[Path], pipeline_name: str) -> RuleSet:
    """Parse every file on its own (a broken file costs only itself), then resolve correlation
    references and apply Sigma filters across all files, then compile each rule."""
    from sigma.collection import SigmaCollection
    from sigma.correlations import SigmaCorrelationRule
    from sigma.exceptions import SigmaError

    pipeline = _pipeline(pipeline_name)
    rs = RuleSet(files=len(files))
    loaded: list[tuple[Any, str]] = []
    filters: list[tuple[Any, str]] = []
    for f in files:
        try:
            if f.stat().st_size > MAX_RULE_FILE:
                raise ValueError(f"larger than {MAX_RULE_FILE} bytes")
            text = f.read_text(encoding="utf-8")
            # references and filters may point into other files: both are resolved below, over all
            coll = SigmaCollection.from_yaml(
                text, collect_errors=True, collect_filters=True, resolve_references=False
            )
        except Exception as exc:  # YAML, encoding, I/O or pySigma errors: the file is listed, not fatal
            rs.failures.append(Failure(str(f), "", f"{type(exc).__name__}: {exc}"))
            continue
        in_rules = {id(e) for r in (*coll.rules, *coll.filters) for e in r.errors}
        for err in coll.errors:  # collection-level errors (an unknown ``action`` …) belong to no rule
            if id(err) not in in_rules:
                rs.failures.append(Failure(str(f), "", str(err)))
        if not coll.rules and not coll.filters and not coll.errors:
            rs.failures.append(Failure(str(f), "", "no Sigma rule in the file"))
        for item, bucket in [(r, loaded) for r in coll.rules] + [(x, filters) for x in coll.filters]:
            if item.errors:
                reason = "; ".join(str(e) for e in item.errors)
                rs.failures.append(Failure(str(f), _ident(item), reason))
            else:
                bucket.append((item, str(f)))
    collection = SigmaCollection([r for r, _ in loaded], resolve_references=False)
    silenced: set[str] = set()
    for rule, path in loaded:
        if not isinstance(rule, SigmaCorrelationRule):
            continue
        try:
            rule.resolve_rule_references(collection)
            corr = _correlation(rule, path)
        except (Unsupported, SigmaError, AttributeError) as exc:
            rs.failures.append(Failure(path, _ident(rule), str(exc)))
            continue
        rs.correlations.append(corr)
        if not rule.generate:
            silenced.update(corr.rules)
    for rule, path in loaded:
        if isinstance(rule, SigmaCorrelationRule):
            continue
        try:
            for flt, flt_path in filters:
                try:
                    rule = flt.apply_on_rule(rule)
                except Exception as exc:
                    raise Unsupported(f"filter {_ident(flt)} ({flt_path}): {exc}") from exc
            compiled = _compile(rule, pipeline, path)
        except (Unsupported, SigmaError) as exc:
            rs.failures.append(Failure(path, _ident(rule), str(exc)))
            continue
        except Exception as exc:
            rs.failures.append(Failure(path, _ident(rule), f"{type(exc).__name__}: {exc}"))
            continue
        if compiled.id in silenced:
            compiled = dataclasses.replace(compiled, generate=False)
        rs.rules.append(compiled)
    return rs
