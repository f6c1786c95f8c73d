"""``aptcatch attribute`` / ``bench attribution`` / ``scan --attribute`` contract: documents, exit codes.

Most tests replace the engine with a recorder returning a fixed result (fast, no knowledge base); the
last ones run the real engine on a store built from the bundled snapshot.
"""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

import aptcatch.attribution.cli as acli
from aptcatch.cli import EXIT_DATAERR, EXIT_USAGE, cli, main
from aptcatch.knowledge.sqlite_store import SqliteStore
from aptcatch.model.attribution import AttributionResult
from aptcatch.model.evidence import Evidence
from tests.attribution.test_evidence_io import GOOD, _bundle, small_store
from tests.attribution.test_render import sample_result

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(autouse=True)
def registered() -> Iterator[None]:
    """Register the commands the way aptcatch.cli will (the lead adds the lines there)."""
    added = [c for c in (acli.attribute, acli.bench) if c.name not in cli.commands]
    for c in added:
        cli.add_command(c)
    yield
    for c in added:
        cli.commands.pop(str(c.name), None)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[Evidence, acli.AttributionOptions]] = []

    def __call__(self, evidence: Evidence, store: Any, options: acli.AttributionOptions) -> AttributionResult:
        self.calls.append((evidence, options))
        return sample_result().model_copy(update={"filters": {}})


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    rec = Recorder()
    store = small_store()
    monkeypatch.setattr(acli, "_engine", rec)
    monkeypatch.setattr(acli, "_open", lambda options: store)
    monkeypatch.setattr(acli, "_engine_profile", lambda result, store, options: None)
    return rec


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


def _evidence(tmp_path: Path, doc: Any = None) -> Path:
    p = tmp_path / "evidence.json"
    p.write_text(json.dumps(GOOD if doc is None else doc), encoding="utf-8")
    return p


def test_json_on_stdout(tmp_path: Path, engine: Recorder, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["attribute", "--json", str(_evidence(tmp_path))], capsys)
    assert code == 0
    doc = json.loads(out)
    assert doc["schema"] == "aptcatch.attribution/1"
    assert doc["candidates"][0]["name"] == "HAZY TIGER"
    assert doc["candidates"][0]["evidence"][0]["value"] == "update.example-cdn.test"  # raw
    assert "unknown" in doc
    ev, opts = engine.calls[0]
    assert ev.techniques == ("T1566.001", "T1059.005")  # checked against the knowledge base
    assert opts.top == 10 and opts.exclude_sources == () and opts.as_of is None


def test_terminal_view_output_file_and_navigator(
    tmp_path: Path, engine: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json, layer = tmp_path / "r.json", tmp_path / "layer.json"
    argv = [
        "attribute",
        str(_evidence(tmp_path)),
        "-o",
        str(out_json),
        "--navigator",
        str(layer),
        "--top",
        "3",
    ]
    code, out, err = run(argv, capsys)
    assert code == 0
    assert "HAZY TIGER" in out and "update[.]" in out  # view on stdout, defanged
    assert "update.example-cdn.test" not in out
    assert json.loads(out_json.read_text(encoding="utf-8"))["candidates"][0]["id"] == "intrusion-set--g1"
    nav = json.loads(layer.read_text(encoding="utf-8"))
    assert nav["versions"]["layer"] == "4.5"
    scores = {t["techniqueID"]: t["score"] for t in nav["techniques"]}
    assert scores == {"T1566.001": 3, "T1059.005": 3, "T1221": 1}  # observed vs. HAZY TIGER's profile
    assert "wrote" in err
    assert engine.calls[0][1].top == 3


def test_filters_reach_the_engine_and_the_result(
    tmp_path: Path, engine: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["attribute", "--json", str(_evidence(tmp_path)), "--exclude-source", "Mandiant"]
    code, out, _ = run([*argv, "--exclude-source", "https://x.example/r", "--as-of", "2020-06-30"], capsys)
    assert code == 0
    _, opts = engine.calls[0]
    assert opts.exclude_sources == ("Mandiant", "https://x.example/r")
    assert opts.as_of == date(2020, 6, 30)
    assert json.loads(out)["filters"] == {
        "exclude_sources": ["Mandiant", "https://x.example/r"],
        "as_of": "2020-06-30",
    }


def test_stix_bundle_input(tmp_path: Path, engine: Recorder, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["attribute", "--json", str(_evidence(tmp_path, _bundle()))], capsys)
    assert code == 0
    ev, _ = engine.calls[0]
    assert ev.techniques == ("T1566.001",) and "ZxxZ" in ev.software
    assert "note:" in err  # the YARA indicator and the unknown sector


def test_malformed_evidence_exits_65(
    tmp_path: Path, engine: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = {"techniques": ["T1566.001", "T9999"], "indicators": [{"type": "ipv4", "value": "1.2.3.999"}]}
    code, out, err = run(["attribute", "--json", str(_evidence(tmp_path, doc))], capsys)
    assert code == EXIT_DATAERR == 65
    assert out == ""
    assert "techniques[1]" in err and "T9999" in err and "indicators[0].value" in err
    assert not engine.calls
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    assert run(["attribute", str(bad)], capsys)[0] == EXIT_DATAERR


@pytest.mark.parametrize(
    "argv",
    [
        ["attribute", "missing.json"],
        ["attribute", "{ev}", "--as-of", "last year"],
        ["attribute", "{ev}", "--top", "0"],
        ["attribute"],
        ["bench", "attribution", "--as-of", "2020-02-30"],
    ],
)
def test_usage_errors_exit_64(
    argv: list[str], tmp_path: Path, engine: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    ev = str(_evidence(tmp_path))
    code, _, _ = run([a.replace("{ev}", ev) for a in argv], capsys)
    assert code == EXIT_USAGE == 64


class FakeReport:
    def to_dict(self) -> dict[str, Any]:
        return {"schema": "aptcatch.bench-attribution/1", "holdout": {"top1": 0.8}}

    def format_table(self) -> str:
        return "protocol  top-1\nholdout   0.80\n"


def test_bench_attribution(
    tmp_path: Path, engine: Recorder, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: dict[str, Any] = {}

    def run_benchmark(store: Any, **kw: Any) -> FakeReport:
        seen.update(kw)
        return FakeReport()

    fake = types.ModuleType("aptcatch.attribution.bench")
    fake.run_benchmark = run_benchmark  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "aptcatch.attribution.bench", fake)
    code, out, _ = run(["bench", "attribution", "--json", "--exclude-source", "Unit 42"], capsys)
    assert code == 0 and json.loads(out)["holdout"]["top1"] == 0.8
    assert seen == {"exclude_sources": ("Unit 42",), "as_of": None}
    out_file = tmp_path / "bench.json"
    code, out, _ = run(["bench", "attribution", "-o", str(out_file), "--as-of", "2021-01-01"], capsys)
    assert code == 0 and "holdout   0.80" in out
    assert json.loads(out_file.read_text(encoding="utf-8"))["holdout"]["top1"] == 0.8
    assert seen["as_of"] == date(2021, 1, 1)


def test_scan_items_to_attribution(
    scanner: Any, engine: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    from rich.console import Console

    item = scanner.scan_file(EXAMPLES / "wuhan-travel-form.eml")
    options = acli.AttributionOptions(top=5, exclude_sources=("vendor",))
    result = acli.attribute_scan_items([item], options)
    assert result.candidates[0].name == "HAZY TIGER"
    ev, opts = engine.calls[0]
    assert "T1566.001" in ev.techniques and "T9999" not in ev.techniques
    assert ("domain", "update.example-cdn.test") in {(i.type, i.value) for i in ev.indicators}
    assert opts is options
    console = Console(width=120, record=True, color_system=None)
    doc = acli.scan_attribution([item], options, console=console)
    assert doc["schema"] == "aptcatch.attribution/1"
    assert "HAZY TIGER" in console.export_text()
    assert acli.scan_attribution([item], options, show=False)["candidates"]


# -- with the real engine ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def snapshot_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("aptcatch.attribution.engine")
    from aptcatch.knowledge.kb import open_store

    db = tmp_path_factory.mktemp("kb") / "kb.sqlite"
    open_store(db).close()  # filled from the bundled snapshot (about 3 s)
    return db


def test_real_engine_end_to_end(
    snapshot_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = {
        "techniques": ["T1566.001", "T1204.002", "T1059.005"],
        "software": ["ZxxZ"],
        "target": {"countries": ["BD"]},
    }
    layer = tmp_path / "layer.json"
    argv = ["attribute", "--json", "--db", str(snapshot_db), "--navigator", str(layer), "--top", "5"]
    code, out, _ = run([*argv, str(_evidence(tmp_path, doc))], capsys)
    assert code == 0
    res = json.loads(out)
    assert len(res["candidates"]) <= 5
    assert sum(c["probability"] for c in res["candidates"]) + res["unknown"] == pytest.approx(1.0, abs=1e-6)
    nav = json.loads(layer.read_text(encoding="utf-8"))
    observed = {t["techniqueID"] for t in nav["techniques"] if t["score"] >= 2}
    assert observed == {"T1566.001", "T1204.002", "T1059.005"}


def test_real_engine_scan_path(snapshot_db: Path, scanner: Any) -> None:
    store = SqliteStore(snapshot_db)
    item = scanner.scan_file(EXAMPLES / "wuhan-travel-form.eml")
    result = acli.attribute_scan_items([item], acli.AttributionOptions(top=5), store=store)
    assert sum(c.probability for c in result.candidates) + result.unknown == pytest.approx(1.0, abs=1e-6)
    assert result.evidence_used > 0
