"""Objects with Arrow buffers handed between processes through a mapped file: equal, and nothing left."""

from __future__ import annotations

import gc
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from aptcatch.hunt.engines import parcel


def _table() -> pa.Table:
    return pa.table({"a": pa.array(["x", None, "zz" * 1000]), "n": pa.array([1, 2, 3]), "e": pa.nulls(3)})


def test_round_trip_maps_the_buffers_and_removes_the_file(tmp_path: Path) -> None:
    empty = pa.array([], pa.string())
    obj = {"t": _table(), "big": pa.array(range(100_000)), "py": [("k", 1)], "empty": empty}
    sent = parcel.wrap(obj, str(tmp_path))
    assert sent.path is not None and Path(sent.path).parent == tmp_path
    assert len(sent.head) < 4096 and sent.spans  # the buffers are not in the pickle stream
    assert all(at % 64 == 0 for at, _ in sent.spans)
    back = parcel.unwrap(sent)
    assert all(back[k].equals(obj[k]) for k in ("t", "big", "empty"))
    assert back["py"] == [("k", 1)]
    assert os.listdir(tmp_path) == []


def test_plain_objects_and_unwritable_folders_go_through_the_pipe(tmp_path: Path) -> None:
    assert parcel.wrap([1, "a"], str(tmp_path)).path is None
    missing = str(tmp_path / "gone")
    sent = parcel.wrap(_table(), missing)
    assert sent.path is None and parcel.unwrap(sent).equals(_table())


def test_scratch_dir_is_private_and_new() -> None:
    a, b = parcel.scratch_dir(), parcel.scratch_dir()
    try:
        assert a != b and os.path.isdir(a) and os.listdir(a) == []
        assert (os.stat(a).st_mode & 0o777) == 0o700
    finally:
        os.rmdir(a)
        os.rmdir(b)


@pytest.mark.parametrize("size", [0, 1, 63, 64, 65])
def test_odd_buffer_sizes(tmp_path: Path, size: int) -> None:
    arr = pa.array([b"x" * size], pa.binary())
    assert parcel.unwrap(parcel.wrap(arr, str(tmp_path))).equals(arr)


def test_folders_of_dead_hunts_are_removed() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(done.stdout)
    mine = parcel.scratch_dir()
    base = Path(mine).parent
    dead = base / f"aptcatch-parcels-{dead_pid}-x"
    dead.mkdir()
    (dead / "a.buf").write_bytes(b"left over")
    live = base / f"aptcatch-parcels-{os.getpid()}-y"
    live.mkdir()
    try:
        again = parcel.scratch_dir()
        assert not dead.exists() and live.exists() and Path(mine).exists()
        assert Path(again).name.startswith(f"aptcatch-parcels-{os.getpid()}-")
        os.rmdir(again)
    finally:
        for d in (dead, live, Path(mine)):
            if d.exists():
                shutil.rmtree(d)


@pytest.mark.parametrize("through", ["file", "pipe"])
def test_unpickling_sets_off_no_collection(tmp_path: Path, through: str) -> None:
    obj = {"t": _table(), "rows": [(i, {"k": str(i)}, [i]) for i in range(20_000)]}
    sent = parcel.wrap(obj, str(tmp_path) if through == "file" else str(tmp_path / "gone"))
    assert (sent.path is None) == (through == "pipe")
    runs: list[str] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        runs.append(phase)

    gc.callbacks.append(seen)
    try:
        back = parcel.unwrap(sent)
        during = runs.count("start")  # at most the one the allocations paused for, once resumed
        assert during <= 1 and gc.isenabled()
        assert back["rows"] == obj["rows"] and back["t"].equals(obj["t"])
        again = [(i, {"k": str(i)}, [i]) for i in range(20_000)]  # the same allocations, not paused
        assert runs.count("start") - during > 10 and len(again) == 20_000
    finally:
        gc.callbacks.remove(seen)
