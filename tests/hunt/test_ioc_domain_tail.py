"""Domains cut first by their last characters (the shortest indicator's length) match as without that cut.

The tail is only a cheaper first filter before the two-label key: the matches must be the same on
awkward domains (upper case, trailing dots, one label, dotless and Unicode ones, ``İ`` that Python
lowers to two code points, names that end like an indicator without being below it) and whatever the
shortest indicator is.
"""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

import aptcatch.hunt.ioc as ioc
from aptcatch.hunt.ioc import IndicatorSet, Sweeper, parse_ioc_lines
from aptcatch.hunt.readers.base import NORMALISED, ReadResult

INDICATORS = ["evil.example", "a.bad.test", "long-indicator-name.example"]
UNICODE = ["kötü.example", "i̇x.example"]  # no ad-hoc line gives these; added as a store could
LABELS = ["evil", "EVIL", "a", "bad", "notevil", "kötü", "KÖTÜ", "İx", "i̇x", "long-indicator-name", "x"]
TAILS = ["example", "EXAMPLE", "test", "example.test", "", "bad.test"]


def _domains(rng: random.Random, n: int) -> list[str | None]:
    out: list[str | None] = []
    for _ in range(n):
        labels = [rng.choice(LABELS) for _ in range(rng.randrange(0, 4))]
        name = ".".join([*labels, rng.choice(TAILS)]).strip(".") if labels else rng.choice(TAILS)
        out.append(rng.choice([name, name + ".", name + "..", name.upper(), None, "." + name]))
    return out


def _result(domains: list[str | None]) -> ReadResult:
    cols = {c: pa.nulls(len(domains), pa.string()) for c in NORMALISED}
    cols["dns.question.name"] = pa.array(domains, pa.string())
    return ReadResult(ioc.Path("dns.log"), "zeek-json", pa.table(cols))


@pytest.mark.parametrize("extra", [[], ["ab.cd"], ["a-much-longer-one.example"]])
def test_tail_cut_keeps_every_match(monkeypatch: pytest.MonkeyPatch, extra: list[str]) -> None:
    indicators = IndicatorSet()
    parse_ioc_lines([*INDICATORS, *extra], "t", indicators)
    for value in UNICODE:
        indicators.add("domain", value, "t")
    result = _result(_domains(random.Random(len(extra)), 6000))
    # large tables are swept on their own (small ones are stacked): both paths
    monkeypatch.setattr(ioc, "SMALL_FILE", 10)
    sweeper = Sweeper(indicators)
    assert sweeper._tail == min(len(v) for _, v in indicators.entries) >= 5
    with_tail = sweeper.sweep([result])
    monkeypatch.setattr(ioc, "_MIN_TAIL", 10**6)  # no tail cut: the two-label key alone
    without = sweeper.sweep([result])
    assert with_tail == without
    assert {m.value for m in with_tail} >= {"evil.example", "a.bad.test", "kötü.example"}
    assert any(m.match == "parent-domain" for m in with_tail)


def test_no_domain_indicators_no_tail() -> None:
    indicators = IndicatorSet()
    parse_ioc_lines(["192.0.2.1"], "t", indicators)
    sweeper = Sweeper(indicators)
    assert sweeper._tail == 0
    assert sweeper.sweep([_result(["evil.example", None])]) == []
