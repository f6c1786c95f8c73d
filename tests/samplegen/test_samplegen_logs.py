"""The example logs: reproducible, and the hunt finds exactly the lure's host in them."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from aptcatch.cli import cli
from samplegen.logs import LURE_HOST, LURE_IP, write_logs

LOGS = Path(__file__).resolve().parents[2] / "examples" / "logs"


def test_committed_logs_are_what_the_generator_writes(tmp_path: Path) -> None:
    for path in write_logs(tmp_path):
        assert path.read_bytes() == (LOGS / path.name).read_bytes(), path.name


def test_hunt_finds_the_lure_host_and_not_the_look_alike(tmp_path: Path) -> None:
    out = tmp_path / "alerts.jsonl"
    files = [str(LOGS / n) for n in ("proxy_access.log", "zeek_dns.log")]
    result = CliRunner().invoke(
        cli,
        ["hunt", "--no-knowledge", "--no-sigma", "--iocs", str(LOGS / "iocs.txt"), "-o", str(out), *files],
    )
    assert result.exit_code == 1, result.output
    alerts = [json.loads(line) for line in out.read_text().splitlines()]
    assert {a["threat.indicator.value"] for a in alerts} == {LURE_HOST, LURE_IP}
    assert {a["host.name"] for a in alerts} == {"10.20.30.41"}
    assert not [a for a in alerts if "example.org" in a["event.original"]]
    by_file = {Path(a["log.file.path"]).name for a in alerts}
    assert by_file == {"proxy_access.log", "zeek_dns.log"}
