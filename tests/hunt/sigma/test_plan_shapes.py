"""Planning from segment shapes: a lazy Squid table is built for Sigma only when some rule can match it.

The run over lazily read files must be the run over the same files with their tables built (hits,
applied rules, blind fields, segment and query counts), and the SQL reference must agree on the hits;
whether the Squid table was built is checked per rule set.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pyarrow as pa
import pytest

from aptcatch.hunt.readers import read_log
from aptcatch.hunt.readers.base import ReadResult, Segment, SegmentShape
from aptcatch.hunt.readers.duck import LineResult
from aptcatch.hunt.sigma.evaluate import DuckDBSigma, SigmaRun
from aptcatch.hunt.sigma.plan import Planner, quiet_plans
from aptcatch.hunt.sigma.rules import CompiledRule, load_rules
from aptcatch.hunt.sigma.vector import VectorSigma
from aptcatch.rules.sigma_store import bundled_rules_dir
from tests.hunt.sigma.conftest import rule_yaml, win_event

SQUID = [
    "1700000000.000    12 192.168.1.2 TCP_MISS/200 500 GET http://a.example/.git/c - HIER_DIRECT/192.0.2.1 -",
    "1700000000.100 7 192.168.1.3 TCP_MISS/200 500 CONNECT b.example:443 bob HIER_DIRECT/192.0.2.1 -",
    "not a squid line",
    "1700000000.200 7 192.168.1.4 TCP_DENIED/403 0 GET http://c.example/x - HIER_NONE/- text/html",
]

RULES: dict[str, tuple[str, str]] = {  # title -> (logsource, detection)
    "zeek dns": ("product: zeek\nservice: dns", "sel:\n  query|endswith: a.example\ncondition: sel"),
    "zeek http": ("product: zeek\nservice: http", "sel:\n  url.full|contains: a.example\ncondition: sel"),
    "cisco words": ("product: cisco\nservice: aaa", "keywords:\n  - 'a.example'\ncondition: keywords"),
    "proxy uri": ("category: proxy", "sel:\n  c-uri|contains: '.git/'\ncondition: sel"),
    "web words": ("category: webserver", "keywords:\n  - '.git/'\ncondition: keywords"),
    "user": ("category: proxy", "sel:\n  user.name: bob\ncondition: sel"),
    "dataset": ("category: proxy", "sel:\n  event.dataset: squid.access\ncondition: sel"),
    "cmd": (
        "product: windows\ncategory: process_creation",
        "sel:\n  CommandLine|contains: x\ncondition: sel",
    ),
}


def _rules(tmp_path: Path, titles: Sequence[str]) -> list[CompiledRule]:
    folder = tmp_path / "rules"
    folder.mkdir(exist_ok=True)
    for n, title in enumerate(titles):
        logsource, detection = RULES[title]
        (folder / f"r{n}.yml").write_text(rule_yaml(title, detection, logsource), encoding="utf-8")
    rs = load_rules([folder], pipeline="none", use_cache=False)
    assert not rs.failures, rs.failures
    return list(rs.rules)


def _inputs(tmp_path: Path) -> list[ReadResult]:
    squid = tmp_path / "access.log"
    squid.write_text("\n".join(SQUID) + "\n", encoding="utf-8")
    events = tmp_path / "events.json"
    lines = [json.dumps(win_event({"CommandLine": "x.exe", "Image": "C:\\x.exe"}, record=n)) for n in (1, 2)]
    events.write_text("\n".join(lines) + "\n", encoding="utf-8")
    csv = tmp_path / "proxy.csv"  # no constants either: the same group as Squid's
    csv.write_text("user.name,url.full\nbob,http://d.example/.git/\n", encoding="utf-8")
    return [read_log(squid, "squid"), read_log(events, "windows-json"), read_log(csv, "csv")]


def _same(a: SigmaRun, b: SigmaRun) -> None:
    assert sorted(a.hits, key=str) == sorted(b.hits, key=str)
    assert (a.applied, a.blind, a.segments) == (b.applied, b.blind, b.segments)
    assert a.queries <= b.queries  # a group left unbuilt is not evaluated


@pytest.mark.parametrize(
    ("titles", "with_csv", "built"),
    [
        (["zeek dns", "zeek http", "cisco words", "proxy uri", "cmd"], False, False),  # none matches Squid
        (["zeek dns", "cisco words", "proxy uri", "cmd"], True, True),  # a CSV in the group: no value
        (["web words", "cmd"], False, True),  # a keyword can be anywhere in a line
        (["user", "proxy uri"], False, True),  # user.name may be empty in every row: ask the table
        (["dataset"], False, True),  # true for every event
        (["proxy uri", "user"], True, True),
    ],
)
def test_lazy_squid_runs_as_the_built_one(
    tmp_path: Path, titles: list[str], with_csv: bool, built: bool
) -> None:
    rules = _rules(tmp_path, titles)
    lazy, eager = _inputs(tmp_path), _inputs(tmp_path)
    if not with_csv:
        lazy, eager = lazy[:2], eager[:2]
    assert eager[0].table.num_rows == 3  # builds it
    run = VectorSigma(rules).run(lazy)
    _same(run, VectorSigma(rules).run(eager))
    reference = DuckDBSigma(rules).run(eager)
    assert sorted(run.hits, key=str) == sorted(reference.hits, key=str)
    assert (run.applied, run.blind) == (reference.applied, reference.blind)
    squid = lazy[0]
    assert isinstance(squid, LineResult) and (squid._full is not None) == built


def test_bundled_rules_never_build_a_squid_table(tmp_path: Path) -> None:
    rules = list(load_rules([bundled_rules_dir()], pipeline="windows").rules)
    lazy, eager = _inputs(tmp_path)[:2], _inputs(tmp_path)[:2]
    eager[0].table  # noqa: B018 (builds it)
    run = VectorSigma(rules).run(lazy)
    _same(run, VectorSigma(rules).run(eager))
    assert run.applied and run.blind  # the Windows rules apply to Squid's segment, blind there
    assert isinstance(lazy[0], LineResult) and lazy[0]._full is None


def _shape(
    columns: Sequence[str], uncertain: Sequence[str] = (), rows: int = 5, **values: str
) -> SegmentShape:
    return SegmentShape({}, tuple(columns), rows, frozenset(uncertain), values)


def test_quiet_plans_only_for_shapes_that_decide_them(tmp_path: Path) -> None:
    planner = Planner(_rules(tmp_path, ["zeek http", "cmd"]))
    names = ["url.full", "user.name", "event.dataset"]
    squid = {"event.dataset": "squid.access"}
    quiet = quiet_plans(planner, [_shape(names, ["user.name"], **squid)])
    assert quiet == {(): planner.plan({}, frozenset(names))}
    assert {rule for rule, _ in quiet[()].run} == {0}  # the Zeek rule runs on the table, false on its value
    # without the value, the Zeek rule's gate is a column to read
    assert not quiet_plans(planner, [_shape(names)])
    # two members hold different values: none is common, the gate cannot be folded
    pair = [_shape(names, **{"event.dataset": "a"}), _shape(names, **{"event.dataset": "b"})]
    assert not quiet_plans(planner, pair)
    # a segment without events is no group; constants make their own group
    assert not quiet_plans(planner, [_shape(names, rows=0)])
    windows = SegmentShape({"EventID": "4624"}, ("Image",), 3)
    assert list(quiet_plans(planner, [windows])) == [(("EventID", "4624"),)]

    (tmp_path / "u").mkdir()
    user = Planner(_rules(tmp_path / "u", ["user", "cmd"]))
    assert not quiet_plans(user, [_shape(names, **squid)])  # runs where user.name has a value
    assert not quiet_plans(user, [_shape(names, ["user.name"], **squid)])  # which may be nowhere
    assert quiet_plans(user, [_shape(names[::2], **squid)]) == {(): user.plan({}, frozenset(names[::2]))}


def test_renamed_columns_are_planned_from_the_table(tmp_path: Path) -> None:
    folder = tmp_path / "r"
    folder.mkdir()
    detection = "sel:\n  CommandLine|contains: x\n  Foo: y\ncondition: sel"
    (folder / "r.yml").write_text(rule_yaml("two", detection), encoding="utf-8")
    planner = Planner(list(load_rules([folder], pipeline="none", use_cache=False).rules))
    assert not quiet_plans(planner, [_shape(["Command Line", "Image"], ["Image"])])
    built = Segment(pa.table({"Command Line": ["a"], "@row": pa.array([0], pa.int64())}))
    shape = SegmentShape.of(built)
    assert shape == SegmentShape({}, ("Command Line",), 1)
    quiet = quiet_plans(planner, [shape])
    assert quiet == {(): planner.plan({}, frozenset({"CommandLine"}))}
    assert quiet[()].missing == {0: frozenset({"Foo"})}  # CommandLine is there, under its Sigma name


def test_shapes_of_a_built_result_are_its_segments(tmp_path: Path) -> None:
    results: Mapping[int, ReadResult] = dict(enumerate(_inputs(tmp_path)))
    for r in results.values():
        r.table  # noqa: B018
        assert r.sigma_shapes() == [SegmentShape.of(s) for s in r.sigma_segments()]
