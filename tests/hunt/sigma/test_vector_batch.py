"""Sigma on whole Windows batches (what a pool worker runs) gives exactly VectorSigma's run on the
batches' per-file results: the same hits, applied rules, blind fields, segment and query counts."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from aptcatch.hunt.engines import parcel
from aptcatch.hunt.readers import evtx
from aptcatch.hunt.readers.base import SegmentShape
from aptcatch.hunt.readers.winsegments import Payload
from aptcatch.hunt.sigma import vector_batch
from aptcatch.hunt.sigma.evaluate import SigmaRun
from aptcatch.hunt.sigma.plan import Planner, SegmentPlan
from aptcatch.hunt.sigma.rules import CompiledRule, RuleSet, load_rules
from aptcatch.hunt.sigma.vector import VectorSigma
from aptcatch.rules.sigma_store import bundled_rules_dir
from samplegen.sysmon import write_samples
from tests.hunt.sigma.conftest import SYSMON, rule_yaml, win_event

Item = tuple[Path, str]


@pytest.fixture
def folder() -> Iterator[str]:
    where = parcel.scratch_dir()
    yield where
    shutil.rmtree(where, ignore_errors=True)


def _payloads(items: Sequence[Item], folder: str | None = None) -> list[Payload]:
    """The batches as a worker has them: sent to a parcel and mapped back (``folder``), or as built."""
    out = list(evtx.read_batches(items))
    if folder is not None:
        out = [parcel.peek(parcel.wrap(p.compact(), folder)) for p in out]
    return out


def _key(run: SigmaRun) -> tuple[Any, ...]:
    hits = sorted((h.file_id, h.row, h.rule) for h in run.hits)
    return hits, run.applied, run.blind, run.segments, run.queries


def assert_same(rules: Sequence[CompiledRule], payloads: Sequence[Payload]) -> SigmaRun:
    """Both runs equal; the batch run returned."""
    results = [r for p in payloads for r in p.results()]
    expected = VectorSigma(rules).run(results)
    got = vector_batch.run_payloads(VectorSigma(rules), payloads)
    assert _key(got) == _key(expected)
    return got


def _lines(path: Path, events: Sequence[dict[str, Any] | str]) -> Item:
    text = "".join((e if isinstance(e, str) else json.dumps(e)) + "\n" for e in events)
    path.write_text(text, encoding="utf-8")
    return path, "windows-json"


@pytest.fixture(scope="module")
def bundled() -> RuleSet:
    return load_rules([bundled_rules_dir()], use_cache=False)


@pytest.fixture(scope="module")
def sysmon_lines(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    events, _ = write_samples(tmp_path_factory.mktemp("sysmon"))
    return events.read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("batch_events", [20, 50_000])
@pytest.mark.parametrize("mapped", [False, True])
def test_bundled_rules_on_sysmon_files_good_bad_and_empty(
    tmp_path: Path,
    bundled: RuleSet,
    sysmon_lines: list[str],
    folder: str,
    batch_events: int,
    mapped: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(evtx, "BATCH_EVENTS", batch_events)
    items: list[Item] = []
    for i in range(6):  # files that overlap, one with a bad line, an empty one, an unreadable EVTX
        part = sysmon_lines[i * 9 : i * 9 + 40] + (["{not json", "[1]"] if i == 2 else [])
        items.append(_lines(tmp_path / f"s{i}.jsonl", part))
        if i == 3:
            items.append(_lines(tmp_path / "empty.jsonl", []))
            bad = tmp_path / "bad.evtx"
            bad.write_bytes(b"ElfFile\x00" + b"\x00" * 100)
            items.append((bad, "evtx"))
    items.append(_lines(tmp_path / "all.jsonl", sysmon_lines))
    payloads = _payloads(items, folder if mapped else None)
    assert (len(payloads) > 2) == (batch_events == 20)
    run = assert_same(bundled.rules, payloads)
    files = {h.file_id for h in run.hits}
    assert len(run.hits) > 20 and max(files) == len(items) - 1 and len(files) > 3


# Rules (pipeline "none": fields as written) for every path of the evaluator.
RULES = {
    "image": "selection:\n  Image|endswith: '\\evil.exe'\ncondition: selection",
    "every row of 4688": "selection:\n  EventID: 4688\ncondition: selection",
    "blind": "selection:\n  EventID: 1\n  NoSuchField: x\ncondition: selection",
    "keyword": "keywords:\n  - 'needle'\ncondition: keywords",
    "spaced name": "selection:\n  SourceName: 'Defender'\ncondition: selection",
    "not on a missing field": (
        "selection:\n  Image|endswith: '.exe'\nfilter:\n  Extra: 'skip'\ncondition: selection and not filter"
    ),
    "command line": "selection:\n  CommandLine|contains|all: ['-enc', 'aaa']\ncondition: selection",
    "quiet group": "selection:\n  EventID: 7\n  Image|contains: 'never-there'\ncondition: selection",
    "fieldref": "selection:\n  ParentImage|fieldref: Image\ncondition: selection",
}


@pytest.fixture(scope="module")
def custom(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    where = tmp_path_factory.mktemp("rules")
    for n, (title, detection) in enumerate(sorted(RULES.items())):
        (where / f"r{n}.yml").write_text(rule_yaml(title, detection), encoding="utf-8")
    rs = load_rules([where], pipeline="none", use_cache=False)
    assert not rs.failures and len(rs.rules) == len(RULES)
    return rs


def _file_events(n: int) -> list[dict[str, Any] | str]:
    """Sysmon 1 and 2 events of one shape (so constants differ inside a shape, within and between
    files), a Defender event with spaced names, events without rules (quiet), a bad line."""
    out: list[dict[str, Any] | str] = []
    for i in range(8):
        image = "C:\\x\\evil.exe" if (i + n) % 3 == 0 else f"C:\\x\\tool{i}.exe"
        data = {"Image": image, "ParentImage": image if i == n % 8 else "C:\\p.exe"}
        data["CommandLine"] = f"run -enc aaa {i}" if i % 4 == n % 4 else "needle here" if i == 5 else "x"
        if n % 2:
            data["Extra"] = "skip" if i % 2 else "keep"  # a second shape of the same constants
        out.append(win_event(data, event_id=1 + (i + n) % 2, record=100 * n + i))
    out.append(
        win_event(
            {"Source Name": "Other", "SourceName": "dup"} if n == 3 else {"Source Name": "Defender"},
            event_id=1116,
            channel="Microsoft-Windows-Windows Defender/Operational",
            provider="Microsoft-Windows-Windows Defender",
            record=100 * n + 50,
        )
    )
    out.append(win_event({"TargetUserName": f"u{n}"}, event_id=4688, channel="Security", record=100 * n + 60))
    out.append(win_event({"ImageLoaded": "C:\\a.dll"}, event_id=7, channel=SYSMON, record=100 * n + 70))
    out.append(win_event({"QueryName": "example.org"}, event_id=22, channel=SYSMON, record=100 * n + 80))
    if n == 2:
        out.append("{broken")
    return out


@pytest.mark.parametrize("batch_events", [25, 50_000])
@pytest.mark.parametrize("builder", ["c", "python"])
def test_custom_rules_shapes_constants_and_batches(
    tmp_path: Path,
    custom: RuleSet,
    folder: str,
    batch_events: int,
    builder: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(evtx, "BATCH_EVENTS", batch_events)
    if builder == "python":  # the pure-Python batch (else the C one where it is built): the same payload
        monkeypatch.setenv("APTCATCH_NO_C", "1")
    items = [_lines(tmp_path / f"w{n}.jsonl", _file_events(n)) for n in range(7)]
    items.insert(3, _lines(tmp_path / "empty.jsonl", []))
    items.insert(5, _lines(tmp_path / "junk.jsonl", ["{nope", "[]"]))
    payloads = _payloads(items, folder)
    assert (len(payloads) > 2) == (batch_events == 25)
    quiet: list[dict[Any, SegmentPlan]] = []
    real = vector_batch.quiet_plans

    def spy(planner: Planner, shapes: Iterable[SegmentShape]) -> dict[Any, SegmentPlan]:
        quiet.append(real(planner, shapes))
        return quiet[-1]

    monkeypatch.setattr(vector_batch, "quiet_plans", spy)
    run = assert_same(custom.rules, payloads)
    title = {i: r.title for i, r in enumerate(custom.rules)}
    fired = {title[h.rule] for h in run.hits}
    assert fired >= {"image", "every row of 4688", "keyword", "spaced name", "not on a missing field"}
    assert {"command line", "fieldref"} <= fired
    blind = {title[i]: m for i, m in run.blind.items()}
    # Sysmon 7 events have no Image: a group no rule runs on (quiet), where one rule is blind
    assert blind == {"blind": frozenset({"NoSuchField"}), "quiet group": frozenset({"Image"})}
    assert quiet and all(not plan.run and not plan.every_row for plan in quiet[-1].values())
    # one shape of a payload holds events of EventID 1 and 2 from several files, interleaved
    shapes = [s for p in payloads for s in p.shapes if len({tuple(m[1].items()) for m in s[3]}) > 1]
    assert shapes and any(len({m[0] for m in s[3]}) > 1 for s in shapes)


def test_rows_of_interleaved_members_are_taken_in_order() -> None:
    """A piece's rows, file ids, row numbers and column values, for members apart and end to end."""
    values = pa.array([f"v{i}" for i in range(12)])
    shape = (("A",), [2], pa.array(range(100, 110), pa.int64()), [])  # column A: values[2:12]
    payload = Payload([], [], {"A": values}, [shape], pa.table({}))
    piece = vector_batch._Piece(payload, 0, [(0, 2, 4), (5, 3, 6), (9, 1, 7)])
    piece.finish()
    assert not isinstance(piece.at, slice) and piece.at.to_pylist() == [0, 1, 5, 6, 7, 9]
    files, rows = piece.ids()
    assert files.tolist() == [4, 4, 6, 6, 6, 7] and rows.tolist() == [100, 101, 105, 106, 107, 109]
    assert piece.column("A", pa.string()).to_pylist() == ["v2", "v3", "v7", "v8", "v9", "v11"]
    assert piece.column(None, pa.string()).null_count == 6
    together = vector_batch._Piece(payload, 0, [(3, 2, 0), (5, 4, 1)])
    together.finish()
    assert together.at == slice(3, 9) and together.size == 6
    assert together.ids()[0].tolist() == [0, 0, 1, 1, 1, 1]
    assert together.column("A", pa.string()).to_pylist() == [f"v{i}" for i in range(5, 11)]


@pytest.mark.corpus
def test_sigmahq_windows_rules_on_the_attack_samples(
    shared_data: Path, folder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = load_rules([shared_data / "sigma" / "rules" / "windows"], use_cache=False)
    paths = sorted((shared_data / "evtx-attack-samples").rglob("*.evtx"))
    assert len(paths) > 200 and len(rules.rules) > 1000
    items = [(p, "evtx") for p in paths]
    whole = assert_same(rules.rules, _payloads(items, folder))
    assert len(whole.hits) > 1000 and whole.blind
    monkeypatch.setattr(evtx, "BATCH_EVENTS", 1000)
    several = _payloads(items, folder)
    assert len(several) > 4
    assert_same(rules.rules, several)
