"""A batch's payload and the per-file results cut from it on first use: the same tables, originals, rows
and segments as cutting everything at once, also after the payload was pickled (paths sent as text)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from aptcatch.hunt.engines import parcel
from aptcatch.hunt.readers.base import ROW, ReadResult, Segment, SegmentShape
from aptcatch.hunt.readers.windows import new_batch
from aptcatch.hunt.readers.winpayload import Payload, PayloadResult
from tests.hunt.test_readers_winsegments import _cases


def _payload(tmp_path: Path) -> tuple[Payload, list[Path]]:
    batch = new_batch({"Image": "url.full"})
    paths = []
    for i, texts in enumerate(_cases()):
        paths.append(tmp_path / f"f{i}.json")
        batch.ingest(batch.open(paths[-1], "windows-json"), iter([*texts, "{damaged"]))
    return batch.finish(), paths


def _reference(payload: Payload) -> list[dict[str, Any]]:
    """Every file's values cut from the payload's arrays at once, written out here (the eager cut)."""
    originals = payload.originals
    flat = None if isinstance(originals, list) else originals.to_pylist()
    segments: list[list[tuple[int, int, Segment]]] = [[] for _ in payload.files]
    for shape_id, (names, offsets, rows, members) in enumerate(payload.shapes):
        columns = [payload.arrays[n].slice(o, len(rows)) for n, o in zip(names, offsets, strict=True)]
        table = pa.Table.from_arrays([*columns, rows], names=[*names, ROW])
        for file_id, constants, first, size in members:
            segments[file_id].append((shape_id, first, Segment(table.slice(first, size), constants)))
    out, start = [], 0
    for file_id, (path, fmt, n, bad, errors) in enumerate(payload.files):
        texts = originals[file_id] if isinstance(originals, list) else flat[start : start + n]  # type: ignore[index]
        segs = [s for _, _, s in sorted(segments[file_id], key=lambda x: x[:2])]
        out.append(
            {
                "head": (path, fmt, n, bad, errors),
                "table": payload.normal.slice(start, n),
                "originals": texts,
                "segments": [(s.constants, s.table) for s in segs],
                "shapes": [SegmentShape.of(s) for s in segs],
            }
        )
        start += n
    return out


def _check(results: list[ReadResult], expected: list[dict[str, Any]]) -> None:
    assert len(results) == len(expected)
    for r, want in zip(results, expected, strict=True):
        assert (r.path, r.format, r.rows, r.bad_lines, r.errors) == want["head"]
        assert r.sigma_shapes() == want["shapes"], r.path
        assert r.table.equals(want["table"]), r.path
        assert list(r.originals or ()) == want["originals"]
        segs = r.sigma_segments()
        assert [s.constants for s in segs] == [c for c, _ in want["segments"]]
        for s, (_, table) in zip(segs, want["segments"], strict=True):
            assert s.table.schema == table.schema and s.table.equals(table), (r.path, s.constants)
        if r.rows:
            last = r.rows - 1
            assert r.original([last, 0]) == [want["originals"][last], want["originals"][0]]
            took = r.take([last, 0], ["host.name", "url.full", "no such column"])
            assert (
                took.to_pylist()
                == want["table"].select(["host.name", "url.full"]).take([last, 0]).to_pylist()
            )


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("route", ["here", "compact", "pickled", "parcel"])
def test_results_equal_the_eager_cut(tmp_path: Path, lazy: bool, route: str) -> None:
    payload, paths = _payload(tmp_path)
    assert sum(n for _, _, n, _, _ in payload.files) > 30 and all(bad >= 1 for *_, bad, _ in payload.files)
    if route != "here":
        payload.compact()
    if route == "pickled":
        payload = pickle.loads(pickle.dumps(payload, protocol=5))
    elif route == "parcel":
        payload = parcel.unwrap(parcel.wrap(payload, str(tmp_path)))
    expected = _reference(payload)
    assert [w["head"][0] for w in expected] == paths
    results = payload.results(lazy=lazy)
    assert all(isinstance(r, PayloadResult) for r in results)
    assert all((r.segments is None) == lazy for r in results)
    _check(results, expected)


def test_pickled_payloads_carry_paths_as_text_and_reuse_the_receivers(tmp_path: Path) -> None:
    payload, paths = _payload(tmp_path)
    blob = pickle.dumps(payload.compact(), protocol=5)
    assert b"pathlib" not in blob  # no Path object travels
    back = pickle.loads(blob)
    assert back.file_count == len(paths) and [f[0] for f in back.files] == paths
    assert list(back.files) == list(payload.files) and back.files[1:3] == list(payload.files[1:3])
    expected = _reference(back)
    # the receiver's own Path objects are used where they spell the file's path
    mine = [Path(str(p)) for p in paths]
    assert all(r.path is p for r, p in zip(back.results(lazy=True, paths=mine), mine, strict=True))
    # a path that spells another file is not used; missing ones are made from the text
    wrong = [mine[1], mine[0]]
    results = back.results(lazy=True, paths=wrong)
    assert [r.path for r in results] == paths and results[0].path is not wrong[0]
    _check(results, expected)
    again = pickle.loads(pickle.dumps(back, protocol=5))  # a payload that came pickled, sent on
    _check(again.results(paths=mine), expected)


class _CountingTable:
    """A table that counts the slices cut from it."""

    def __init__(self, table: pa.Table) -> None:
        self.table, self.cuts = table, 0

    def slice(self, start: int, length: int) -> pa.Table:
        self.cuts += 1
        return self.table.slice(start, length)


def test_nothing_is_cut_before_it_is_used(tmp_path: Path) -> None:
    payload, paths = _payload(tmp_path)
    payload = pickle.loads(pickle.dumps(payload.compact(), protocol=5))
    results = payload.results(lazy=True, paths=paths)
    spy = _CountingTable(payload.normal)
    payload.normal = spy  # type: ignore[assignment]
    counts = [n for _, _, n, _, _ in payload.files]
    assert [r.rows for r in results] == counts and sum(counts) == spy.table.num_rows
    assert all(r.sigma_shapes() is not None for r in results)  # planned from the payload: nothing made
    assert spy.cuts == 0 and all(r.segments is None for r in results) and payload._tables == {}
    first = results[0].table
    assert spy.cuts == 1 and results[0].table is first and results[0].rows == first.num_rows
    segs = results[0].sigma_segments()
    assert results[0].segments is segs and results[0].segment_source is None
    assert [SegmentShape.of(s) for s in segs] == payload.results(lazy=True)[0].sigma_shapes()


def test_fields_set_on_a_result_win(tmp_path: Path) -> None:
    payload, _ = _payload(tmp_path)
    (r, *_) = payload.results(lazy=True)
    small = pa.table({"host.name": ["a", "b"]})
    r.table, r.originals, r.path = small, None, Path("elsewhere")
    assert r.table is small and r.rows == 2 and r.originals is None and r.path == Path("elsewhere")
    assert r.original([1]) == [None]
    segment = Segment(pa.table({"x": ["1"], ROW: pa.array([0], pa.int64())}), {"EventID": "9"})
    r.segments = [segment]
    assert r.sigma_segments() == [segment] and r.sigma_shapes() == [SegmentShape.of(segment)]
