"""The IOC sweep over the files of Windows batches: consecutive small files that are slices of one
batch table are stacked with one slice (``ReadResult.shared_table``); the matches must be exactly those
of the per-file stacking."""

from __future__ import annotations

from pathlib import Path

import pytest

from aptcatch.hunt import ioc
from aptcatch.hunt.ioc import IndicatorSet, parse_ioc_lines, sweep
from aptcatch.hunt.readers import ReadResult, read_log
from aptcatch.hunt.readers import evtx as evtx_reader
from aptcatch.hunt.readers.base import OBSERVED
from aptcatch.hunt.readers.winpayload import PayloadResult
from samplegen.sysmon import write_samples


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    events, _ = write_samples(tmp_path_factory.mktemp("sysmon"))
    lines = events.read_text(encoding="utf-8").splitlines()
    folder = tmp_path_factory.mktemp("logs")
    out = []
    for i in range(0, len(lines), 13):
        path = folder / f"s{i:03d}.jsonl"
        path.write_text("\n".join(lines[i : i + 13]) + "\n", encoding="utf-8")
        out.append(path)
    return out


def _results(files: list[Path], squid: Path, monkeypatch: pytest.MonkeyPatch) -> list[ReadResult]:
    monkeypatch.setattr(evtx_reader, "BATCH_EVENTS", 30)  # several batches: runs break between them
    items = [(f, "windows-json") for f in files]
    out: list[ReadResult] = []
    for payload in evtx_reader.read_batches(items):
        out += payload.results(lazy=True)
    out.insert(3, read_log(squid))  # a file of another kind between two of one batch
    return out


def _indicators(results: list[ReadResult]) -> IndicatorSet:
    values: set[str] = set()
    for r in results:
        table = r.observed()
        for column in (c for cols in OBSERVED.values() for c in cols if c in table.column_names):
            values |= {v for v in table.column(column).to_pylist() if v}
    iocs = IndicatorSet()
    parse_ioc_lines(sorted(values)[::2], "test", iocs)
    return iocs


def test_batch_slices_match_like_per_file_tables(
    files: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    squid = tmp_path / "access.log"
    squid.write_text(
        "1732435200.123    120 192.0.2.10 TCP_MISS/200 512 GET http://updates.example.org/a.php - "
        "HIER_DIRECT/203.0.113.7 text/html\n",
        encoding="utf-8",
    )
    results = _results(files, squid, monkeypatch)
    assert sum(isinstance(r, PayloadResult) for r in results) == len(files)
    iocs = _indicators(results)
    assert len(iocs) > 10
    stacked: list[int] = []
    real = ioc._Run.stacked

    def spy(run: ioc._Run) -> object:
        stacked.append(len(run.files))
        return real(run)

    monkeypatch.setattr(ioc._Run, "stacked", spy)
    matches = sweep(results, iocs)
    assert len(stacked) > 2 and sum(stacked) == len(files)  # several runs: batches and the Squid file
    monkeypatch.setattr(PayloadResult, "shared_table", lambda self: None)
    per_file = sweep(results, iocs)
    assert matches == per_file and len(matches) > 20
    assert {m.file_id for m in matches} >= {0, 3}  # hits in a batch file and in the Squid file
