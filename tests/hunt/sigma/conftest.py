"""Harness for the Sigma semantics tests: rules as YAML text, events as evtx_dump JSON lines, both engines.

Every test that checks hits runs once per evaluator (``engine`` fixture: :class:`VectorSigma`, the
default, and :class:`DuckDBSigma`, the SQL reference) and once per reader (``reader``: ``windows``
writes evtx_dump JSON lines that ``read_log`` reads into per-shape segments with ``Channel``/``EventID``
as segment constants; ``flat`` writes each event as one flat JSON object, read as generic JSON into
one wide segment where those are ordinary columns and a missing field is a null cell). The same
expected hits on every combination is what "both evaluators agree" means here.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest

from aptcatch.hunt.readers import read_log
from aptcatch.hunt.readers.base import ReadResult
from aptcatch.hunt.sigma.evaluate import DuckDBSigma, SigmaRun
from aptcatch.hunt.sigma.rules import CompiledRule, RuleSet, load_rules
from aptcatch.hunt.sigma.vector import VectorSigma

SYSMON = "Microsoft-Windows-Sysmon/Operational"
SYSMON_PROVIDER = "Microsoft-Windows-Sysmon"


class Engine(Protocol):
    def run(self, results: Sequence[ReadResult]) -> SigmaRun: ...


EngineFactory = Callable[[Sequence[CompiledRule]], Engine]
ENGINES: dict[str, EngineFactory] = {"vector": VectorSigma, "duckdb": DuckDBSigma}
READERS = ("flat", "windows")


def win_event(
    data: Mapping[str, Any],
    event_id: int = 1,
    channel: str = SYSMON,
    provider: str = SYSMON_PROVIDER,
    record: int = 1,
) -> dict[str, Any]:
    """One event in evtx_dump's JSON shape (System block plus EventData)."""
    return {
        "Event": {
            "System": {
                "Provider": {"#attributes": {"Name": provider}},
                "EventID": event_id,
                "TimeCreated": {"#attributes": {"SystemTime": f"2026-11-24T10:00:{record % 60:02d}.000000Z"}},
                "EventRecordID": record,
                "Channel": channel,
                "Computer": "ws1.example.test",
            },
            "EventData": dict(data),
        }
    }


def flatten(event: dict[str, Any]) -> dict[str, Any]:
    """An evtx_dump event as one flat object: EventData fields, Channel, EventID, Provider_Name."""
    system = event["Event"]["System"]
    flat = {
        "Channel": system["Channel"],
        "EventID": system["EventID"],
        "Provider_Name": system["Provider"]["#attributes"]["Name"],
        "Computer": system["Computer"],
    }
    return {**flat, **event["Event"]["EventData"]}


def rule_yaml(
    title: str,
    detection: str,
    logsource: str = "product: windows\ncategory: process_creation",
    extra: str = "",
) -> str:
    """A complete rule file; ``detection`` is the body under ``detection:`` (dedented)."""
    body = textwrap.indent(textwrap.dedent(detection).strip("\n"), "  ")
    src = textwrap.indent(logsource, "  ")
    return f"title: {title}\nstatus: test\nlogsource:\n{src}\ndetection:\n{body}\nlevel: high\n{extra}"


_RULE_MEMO: dict[tuple[tuple[tuple[str, str], ...], str], RuleSet] = {}


@dataclass
class Hunter:
    """Load rules, write events, run one engine over them with one reader; hits by rule title."""

    tmp: Path
    engine: str
    reader: str

    def rules(self, rules: Mapping[str, str], pipeline: str = "none") -> RuleSet:
        """``rules``: title -> detection body (or a whole rule file when it starts with ``title:``).

        Compiled rule sets are memoised per worker by their text, so the parametrised copies of a
        test (engine × reader) convert each rule once.
        """
        texts = tuple(sorted((t, d if d.startswith("title:") else rule_yaml(t, d)) for t, d in rules.items()))
        key = (texts, pipeline)
        if key not in _RULE_MEMO:
            folder = self.tmp / "rules"
            folder.mkdir(exist_ok=True)
            for n, (_, text) in enumerate(texts):
                (folder / f"r{n:03d}.yml").write_text(text, encoding="utf-8")
            _RULE_MEMO[key] = load_rules([folder], pipeline=pipeline, use_cache=False)
        return _RULE_MEMO[key]

    def read(self, events: Sequence[dict[str, Any]], name: str = "events.json") -> ReadResult:
        path = self.tmp / name
        records = events if self.reader == "windows" else [flatten(e) for e in events]
        lines = (json.dumps(e, ensure_ascii=False) for e in records)
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        result = read_log(path, "windows-json" if self.reader == "windows" else "json")
        assert result.rows == len(events), result.errors
        if self.reader == "windows":
            assert result.segments is not None
        return result

    def run(
        self, rules: Mapping[str, str], events: Sequence[dict[str, Any]], pipeline: str = "none"
    ) -> tuple[dict[str, set[int]], SigmaRun, RuleSet]:
        """(title -> rows of the events it matched, the run, the rule set); rows follow ``events``."""
        rs = self.rules(rules, pipeline)
        assert not rs.failures, rs.failures
        run = ENGINES[self.engine](rs.rules).run([self.read(events)])
        hits: dict[str, set[int]] = {r.title: set() for r in rs.rules}
        for h in run.hits:
            hits[rs.rules[h.rule].title].add(h.row)
        return hits, run, rs

    def hits(
        self, rules: Mapping[str, str], events: Sequence[dict[str, Any]], pipeline: str = "none"
    ) -> dict[str, set[int]]:
        return self.run(rules, events, pipeline)[0]

    def one(self, detection: str, values: Sequence[Mapping[str, Any]]) -> set[int]:
        """Rows of ``values`` (EventData of Sysmon 1 events) matched by one rule."""
        events = [win_event(v, record=n) for n, v in enumerate(values, 1)]
        return self.hits({"t": detection}, events)["t"]


@pytest.fixture(params=sorted(ENGINES))
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=sorted(READERS))
def reader(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def hunter(tmp_path: Path, engine: str, reader: str) -> Hunter:
    return Hunter(tmp_path, engine, reader)
