"""Segment plans kept between runs (:mod:`aptcatch.hunt.sigma.plan_cache`): same hits, read back, robust."""

from __future__ import annotations

from pathlib import Path

import pytest

from aptcatch.hunt.readers import read_log
from aptcatch.hunt.sigma import ir, plan_cache
from aptcatch.hunt.sigma.evaluate import DuckDBSigma
from aptcatch.hunt.sigma.plan import Planner
from aptcatch.hunt.sigma.rules import CompiledRule, load_rules
from aptcatch.hunt.sigma.vector import VectorSigma
from aptcatch.rules.sigma_store import bundled_rules_dir
from samplegen.sysmon import write_samples


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APTCATCH_CACHE_DIR", str(tmp_path / "cache"))


def _rule(expr: ir.Expr, rid: str = "r1") -> CompiledRule:
    return CompiledRule(rid, rid, "high", "test", f"{rid}.yml", {}, (), expr)


def test_bundled_rules_give_the_same_hits_from_stored_plans(tmp_path: Path) -> None:
    events, _ = write_samples(tmp_path / "samples")
    results = [read_log(events)]
    rs = load_rules([bundled_rules_dir()])
    assert rs.key
    fresh = VectorSigma(rs.rules).run(results)
    assert fresh.hits  # the samples are made to fire the bundled rules

    first = VectorSigma(rs.rules, cache_key=rs.key)
    stored = first.run(results)
    path = plan_cache.plans_path(rs.key)
    assert path.is_file()

    second = VectorSigma(rs.rules, cache_key=rs.key)
    again = second.run(results)
    assert not second.planner._indexed  # every shape came from the file: nothing was planned
    for run in (stored, again):
        assert run.hits == fresh.hits
        assert run.applied == fresh.applied
        assert run.blind == fresh.blind
    sql = DuckDBSigma(rs.rules, cache_key=rs.key).run(results)  # the SQL evaluator reads the same plans
    assert sorted(sql.hits, key=lambda h: (h.file_id, h.row, h.rule)) == sorted(
        fresh.hits, key=lambda h: (h.file_id, h.row, h.rule)
    )


def test_a_rewritten_conjunct_is_stored_in_full_and_read_back_equal(tmp_path: Path) -> None:
    # EventID=4 folds the first conjunct's disjunction to its Image branch: a conjunct the rule lacks.
    expr = ir.And(
        (
            ir.Or((ir.Match("EventID", "eq", "1"), ir.Match("Image", "endswith", "\\regsvr32.exe"))),
            ir.Match("CommandLine", "contains", "scrobj"),
            ir.Match("Channel", "eq", "sysmon"),
        )
    )
    rules = [_rule(expr), _rule(ir.Match("CommandLine", "contains", "mshta"), "r2")]
    planner = Planner(rules)
    shapes = [
        ({"EventID": "4", "Channel": "sysmon"}, frozenset({"Image", "CommandLine"})),
        ({"EventID": "1", "Channel": "sysmon"}, frozenset({"CommandLine"})),
        ({"Channel": "other"}, frozenset({"EventID", "Image"})),
    ]
    plans = {(tuple(sorted(c.items())), p): planner.plan(c, p) for c, p in shapes}
    folded = plans[(tuple(sorted(shapes[0][0].items())), shapes[0][1])].run[0][1]
    assert ir.Match("Image", "endswith", "\\regsvr32.exe") in folded.items  # type: ignore[attr-defined]

    path = tmp_path / "plans.json"
    plan_cache.save(path, plans, rules)
    assert plan_cache.load(path, rules) == plans


def test_a_damaged_or_foreign_file_is_ignored_and_replaced(tmp_path: Path) -> None:
    rules = [_rule(ir.Match("CommandLine", "contains", "regsvr32"))]
    path = plan_cache.plans_path("some-rule-set")
    path.parent.mkdir(parents=True)
    path.write_bytes(b'{"version": 1, "plans": [{"constants": ')
    planner = Planner(rules, "some-rule-set")
    plan = planner.plan({}, frozenset({"CommandLine"}))
    assert plan.run == ((0, rules[0].expr),)
    planner.flush()
    assert plan_cache.load(path, rules) == {((), frozenset({"CommandLine"})): plan}
    # the same file read for a different rule list (another count) is not trusted
    assert plan_cache.load(path, rules + rules) == {}


def test_each_rule_set_has_its_own_file() -> None:
    assert plan_cache.plans_path("a") != plan_cache.plans_path("b")


def test_a_read_only_cache_only_costs_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    monkeypatch.setenv("APTCATCH_CACHE_DIR", str(blocker))
    rules = [_rule(ir.Match("CommandLine", "contains", "regsvr32"))]
    planner = Planner(rules, "k")
    assert planner.plan({}, frozenset({"CommandLine"})).run
    planner.flush()  # cannot write under a file: no error
