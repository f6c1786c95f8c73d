"""Windows event files read and evaluated in worker processes give what one process gives."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from aptcatch.cli import cli
from aptcatch.hunt.engines import EngineOptions, open_engine, winpool
from aptcatch.hunt.engines.duckdb import DuckDBEngine
from aptcatch.hunt.readers import ReadResult
from aptcatch.hunt.sigma.evaluate import SigmaRun
from aptcatch.hunt.sigma.rules import RuleSet, load_rules
from aptcatch.rules.sigma_store import bundled_rules_dir
from samplegen.sysmon import write_samples


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APTCATCH_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five files of Sysmon events (one with a bad line), a proxy log between them, one empty file."""
    folder = tmp_path_factory.mktemp("winpool")
    events, _ = write_samples(tmp_path_factory.mktemp("sysmon"))
    lines = events.read_text(encoding="utf-8").splitlines()
    for i in range(5):
        part = lines[i * 15 :] + (["{not json"] if i == 2 else [])
        (folder / f"sysmon{i}.jsonl").write_text("\n".join(part) + "\n", encoding="utf-8")
    (folder / "sysmon2b_proxy.log").write_text(
        "1732435200.123    120 192.0.2.10 TCP_MISS/200 512 GET http://updates.example.org/a.php - "
        "HIER_DIRECT/203.0.113.7 text/html\n",
        encoding="utf-8",
    )
    (folder / "sysmon9_empty.jsonl").write_text("", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_rules([bundled_rules_dir()])


def _hunt(folder: Path, rules: RuleSet, cores: int) -> tuple[DuckDBEngine, list[ReadResult], SigmaRun]:
    engine = open_engine("duckdb", EngineOptions(cores=cores))
    assert isinstance(engine, DuckDBEngine)
    with engine:
        engine.prepare_sigma(rules.rules, cache_key=rules.key)
        results = engine.read([str(folder)]).results
        run = engine.run_sigma(results, rules.rules, cache_key=rules.key)
    return engine, results, run


def _hits(results: list[ReadResult], run: SigmaRun) -> list[tuple[str, int, int]]:
    return sorted((results[h.file_id].path.name, h.row, h.rule) for h in run.hits)


def _same_results(a: list[ReadResult], b: list[ReadResult]) -> None:
    assert [(r.path, r.format, r.rows, r.bad_lines, r.errors) for r in a] == [
        (r.path, r.format, r.rows, r.bad_lines, r.errors) for r in b
    ]
    for x, y in zip(a, b, strict=True):
        assert x.table.equals(y.table), x.path
        assert list(x.originals or ()) == list(y.originals or ()), x.path
        assert _segments(x) == _segments(y), x.path


def _segments(r: ReadResult) -> list[str]:
    """The segments' constants and rows (a batch of several files lists a file's shapes in the batch's
    order, one file alone in its own: the order means nothing)."""
    return sorted(json.dumps([s.constants, s.table.to_pylist()]) for s in r.sigma_segments())


def test_pooled_read_and_evaluation_equal_one_process(
    logs: Path, rules: RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, alone, run_alone = _hunt(logs, rules, cores=1)
    monkeypatch.setattr(winpool, "MIN_BYTES", 0)
    engine, pooled, run_pooled = _hunt(logs, rules, cores=2)
    # the workers read and evaluated every Windows file (no fallback to this process)
    shards = engine._pooled.shards
    assert len(shards) == 2 and all(s.sigma is not None for s in shards)
    assert sum(len(s.results) for s in shards) == 5  # the empty file is no Windows log
    # the rules ran in the workers: here the segments were never made (they are on first use)
    windows = [r for s in shards for r in s.results]
    assert all(r.segments is None and r.segment_source is not None for r in windows)
    _same_results(pooled, alone)
    assert pooled[2].bad_lines == 1 and pooled[3].format == "squid"
    assert _hits(pooled, run_pooled) == _hits(alone, run_alone) != []
    assert run_pooled.applied == run_alone.applied and run_pooled.blind == run_alone.blind


def test_rules_not_prepared_are_evaluated_after_the_read(
    logs: Path, rules: RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, alone, run_alone = _hunt(logs, rules, cores=1)
    monkeypatch.setattr(winpool, "MIN_BYTES", 0)
    with open_engine("duckdb", EngineOptions(cores=2)) as engine:
        results = engine.read([str(logs)]).results  # read in workers, no rules known yet
        run = engine.run_sigma(results, rules.rules, cache_key=rules.key)
    _same_results(results, alone)
    assert _hits(results, run) == _hits(alone, run_alone)


def test_a_pool_that_cannot_start_reads_in_this_process(
    logs: Path, rules: RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, alone, run_alone = _hunt(logs, rules, cores=1)

    class NoProcesses:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise OSError("no processes here")

    monkeypatch.setattr(winpool, "MIN_BYTES", 0)
    monkeypatch.setattr(winpool, "ProcessPoolExecutor", NoProcesses)
    engine, results, run = _hunt(logs, rules, cores=2)
    assert engine._pooled.shards and all(s.sigma is None for s in engine._pooled.shards)
    _same_results(results, alone)
    assert _hits(results, run) == _hits(alone, run_alone)


def test_small_inputs_stay_in_this_process(
    logs: Path, rules: RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_pool(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a pool for a few kB would only cost its start-up")

    monkeypatch.setattr(winpool, "read_pooled", no_pool)
    engine, results, run = _hunt(logs, rules, cores=2)
    # read here, and the rules run here on the batches as a worker runs them
    shards = engine._pooled.shards
    assert len(shards) == 1 and shards[0].sigma is not None and len(shards[0].results) == 5
    assert all(r.segments is None for r in shards[0].results)  # no per-file segment was made
    # the same run as the per-file evaluation of the same files (rules not prepared before the read)
    with open_engine("duckdb", EngineOptions(cores=1)) as plain:
        later = plain.read([str(logs)]).results
        assert plain._pooled.shards[0].sigma is None
        run_later = plain.run_sigma(later, rules.rules, cache_key=rules.key)
    _same_results(results, later)
    assert _hits(results, run) == _hits(later, run_later) != []
    assert run.applied == run_later.applied and run.blind == run_later.blind


def test_partitions_keep_order_and_share_the_bytes() -> None:
    items = [(Path(f"f{i}"), "evtx") for i in range(10)]
    sizes = [5, 1, 1, 1, 1, 1, 1, 1, 1, 7]
    parts = winpool.partitions(items, sizes, 2)
    assert [i for p in parts for i in p] == items
    size = dict(zip(items, sizes, strict=True))
    assert [sum(size[i] for i in p) for p in parts] == [10, 10]
    assert winpool.partitions(items[:1], sizes[:1], 4) == [items[:1]]
    assert len(winpool.partitions(items, [1] * 10, 3)) == 3
    assert not winpool.worth_it([winpool.MIN_BYTES], 8) and winpool.worth_it([winpool.MIN_BYTES, 1], 2)
    assert not winpool.worth_it([winpool.MIN_BYTES, 1], 1)


def test_cli_cores_gives_the_same_alerts(logs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(winpool, "MIN_BYTES", 0)

    def alerts(cores: str) -> list[str]:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "a.jsonl"
            args = ["hunt", "--no-knowledge", "--iocs", "/dev/null", "--cores", cores, "-o", str(out)]
            result = CliRunner().invoke(cli, [*args, str(logs)])
            assert result.exit_code == 1, result.output
            lines = out.read_text().splitlines()
            return sorted(json.dumps(json.loads(line), sort_keys=True) for line in lines)

    one = alerts("1")
    assert one and alerts("2") == one
    bad = CliRunner().invoke(cli, ["hunt", "--cores", "0", str(logs)])
    assert bad.exit_code == 2 and "--cores" in bad.output


def test_systems_without_a_forkserver_use_fresh_interpreters(monkeypatch: pytest.MonkeyPatch) -> None:
    import multiprocessing

    real = multiprocessing.get_context

    def no_forkserver(method: str | None = None) -> Any:
        if method == "forkserver":
            raise ValueError("cannot find context for 'forkserver'")
        return real(method)

    monkeypatch.setattr(multiprocessing, "get_context", no_forkserver)
    assert winpool._context().get_start_method() == "spawn"
    winpool.warm_up()  # nothing to start, and no error


def test_a_share_lost_on_the_way_is_read_again(
    logs: Path, rules: RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, alone, run_alone = _hunt(logs, rules, cores=1)
    real = winpool.parcel.unwrap
    calls: list[int] = []

    def flaky(sent: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:  # the second share's file vanished (a full /dev/shm cleaned, say)
            raise OSError("parcel gone")
        return real(sent)

    monkeypatch.setattr(winpool, "MIN_BYTES", 0)
    monkeypatch.setattr(winpool.parcel, "unwrap", flaky)
    engine, results, run = _hunt(logs, rules, cores=2)
    assert [s.sigma is not None for s in engine._pooled.shards] == [True, False]
    _same_results(results, alone)
    assert _hits(results, run) == _hits(alone, run_alone)


def test_pooled_results_carry_the_callers_own_paths(logs: Path) -> None:
    """The workers send paths as text; the parent's results hold the very Path objects it listed (no
    Path rebuilt per file)."""
    items = [(p, "windows-json") for p in sorted(logs.glob("sysmon[0-4].jsonl"))]
    shards = list(winpool.read_pooled(items, None, workers=2))
    got = [r.path for s in shards for r in s.results]
    assert got == [p for p, _ in items]
    assert all(a is b for a, (b, _) in zip(got, items, strict=True))


@pytest.mark.parametrize("cores", [1, 2])
def test_alert_rows_of_batch_files_equal_per_file_reads(
    logs: Path, rules: RuleSet, monkeypatch: pytest.MonkeyPatch, cores: int
) -> None:
    from aptcatch.hunt import output
    from aptcatch.hunt.readers.winpayload import PayloadResult

    monkeypatch.setattr(winpool, "MIN_BYTES", 0)  # cores=2: read in workers, originals as one array
    _, results, run = _hunt(logs, rules, cores=cores)
    wanted: dict[int, set[int]] = {}
    for h in run.hits:
        wanted.setdefault(h.file_id, set()).add(h.row)
    wanted.setdefault(3, set()).add(0)  # the proxy log between the Windows files
    together = output.event_rows(results, wanted)
    monkeypatch.setattr(PayloadResult, "shared_table", lambda self: None)
    monkeypatch.setattr(PayloadResult, "shared_originals", lambda self: None)
    assert output.event_rows(results, wanted) == together
    assert len({f for f, _ in together}) >= 4 and all(v["event.original"] for v in together.values())
