"""SigmaHQ's regression data: every EVTX case fires the rule its ``info.yml`` names.

Each case is read with :func:`read_log` and run with :class:`VectorSigma` on its own rule (loaded by id
from the rule folders). Four cases hold more matching events than their ``info.yml`` counts (checked by
hand: the same rule pattern recurs in the recording); they are asserted exactly, with the event record
ids, so a regression and a fix both show.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from aptcatch.hunt.readers import read_log
from aptcatch.hunt.sigma.rules import load_rules
from aptcatch.hunt.sigma.vector import VectorSigma

pytestmark = pytest.mark.corpus

_ID = re.compile(r"^id:\s*['\"]?([0-9a-fA-F-]{36})", re.MULTILINE)

# rule id -> record ids of the events that match, where info.yml's match_count is lower
MORE_THAN_COUNTED = {
    # AnyDesk writes user.conf.new twice and a ~RF….TMP backup of it: three file events
    "0b9ad457-2554-44c1-82c2-d56a99c42377": [14985, 14988, 14990],
    # procdump64.exe, procdump64a.exe and procdump.exe dropped one after another
    "8fbf3271-1ef6-4e94-8210-03c2317947f6": [26359, 26366, 26373],
    # the zone is set for …\https, …\http and …\* of the same domain
    "45e112d0-7759-4c2a-aa36-9f8fb79d3393": [28344631, 28344632, 28344633],
    # AutoShareServer and AutoShareWks both set to 0
    "c7dcacd0-cc59-4004-b0a4-1d6cdebe6f3e": [28656599, 28656618],
}


def _cases(sigma: Path) -> list[tuple[str, Path, int | None]]:
    out = []
    for info in sorted((sigma / "regression_data").rglob("info.yml")):
        doc = yaml.safe_load(info.read_text(encoding="utf-8"))
        for test in doc.get("regression_tests_info") or ():
            if test.get("type") == "evtx":
                out.append(
                    (doc["rule_metadata"][0]["id"].lower(), sigma / test["path"], test.get("match_count"))
                )
    return out


def _rule_files(sigma: Path, wanted: set[str]) -> list[Path]:
    out = []
    for folder in ("rules", "rules-emerging-threats", "rules-threat-hunting"):
        for f in sorted((sigma / folder).rglob("*.yml")):
            m = _ID.search(f.read_text(encoding="utf-8", errors="replace"))
            if m and m.group(1).lower() in wanted:
                out.append(f)
    return out


def test_every_regression_case_fires_its_rule(shared_data: Path) -> None:
    sigma = shared_data / "sigma"
    cases = _cases(sigma)
    assert len(cases) >= 200
    ruleset = load_rules(_rule_files(sigma, {c[0] for c in cases}), use_cache=False)
    by_id: dict[str, list[int]] = {}
    for i, r in enumerate(ruleset.rules):
        by_id.setdefault(r.id.lower(), []).append(i)

    silent, miscounted = [], {}
    for rule_id, evtx, count in cases:
        result = read_log(evtx)
        run = VectorSigma([ruleset.rules[i] for i in by_id.get(rule_id, [])]).run([result])
        rows = sorted({h.row for h in run.hits})
        if not rows:
            silent.append(str(evtx.relative_to(sigma)))
        elif count is not None and len(rows) != count:
            miscounted[rule_id] = [
                json.loads(o or "{}")["Event"]["System"]["EventRecordID"] for o in result.original(rows)
            ]

    assert silent == []
    assert miscounted == MORE_THAN_COUNTED
