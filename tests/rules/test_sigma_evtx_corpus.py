"""The bundled rules on the public EVTX attack samples in ../shared/data: the lure-chain recordings
fire the rule written for them (pySigma's SQLite backend as the reference evaluator)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
from evtx import PyEvtxParser

from aptcatch.rules.sigma_store import bundled_rules_dir
from samplegen import sysmon
from tests.rules.sigma_sqlite import events_db, matches, rule_queries

pytestmark = pytest.mark.corpus

# EVTX file name -> rules (file stems) that must fire on it.
EXPECTED = {
    "exec_sysmon_lobin_regsvr32_sct.evtx": {"regsvr32_scriptlet_squiblydoo"},
    "exec_sysmon_1_lolbin_renamed_regsvr32_scrobj.evtx": {"regsvr32_scriptlet_squiblydoo"},
    "maldoc_mshta_via_shellbrowserwind_rundll32.evtx": {"script_host_spawns_shell_or_lolbin"},
    "exec_persist_rundll32_mshta_scheduledtask_sysmon_1_3_11.evtx": {
        "mshta_remote_or_inline_script",
        "script_host_spawns_shell_or_lolbin",
    },
    "susp_explorer_exec.evtx": {"explorer_shortcut_script_host_obfuscated"},
    "sysmon_2_11_evasion_timestomp_MACE.evtx": {"startup_folder_write_by_office_or_script_host"},
    "sideloading_uacbypass_rundll32_injection_c2.evtx": {"office_spawns_script_host_or_lolbin"},
}


def test_attack_recordings_fire_their_rules(shared_data: Path) -> None:
    events, source = [], []
    for path in sorted((shared_data / "evtx-attack-samples").rglob("*.evtx")):
        for record in PyEvtxParser(str(path)).records_json():
            events.append(json.loads(record["data"]))
            source.append(path.name)
    assert len(events) > 1000
    db = events_db(events)
    names = {rule_id: case.rule_name for rule_id, case in sysmon.cases().items()}
    fired: dict[str, set[str]] = defaultdict(set)
    for rule_id, query in rule_queries(sorted(bundled_rules_dir().glob("*.yml"))).items():
        for i in matches(db, query):
            fired[source[i]].add(names[rule_id])
    missing = {f: sorted(want - fired[f]) for f, want in EXPECTED.items() if want - fired[f]}
    assert not missing
