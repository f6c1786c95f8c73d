"""Segments of many files and of differing columns under one shape: hits keep their file and row."""

from __future__ import annotations

from .conftest import ENGINES, Hunter, win_event


def test_same_shape_in_several_files_with_different_columns(hunter: Hunter) -> None:
    rules = {
        "scrobj": "sel:\n  CommandLine|contains: scrobj\ncondition: sel",
        "defender": "sel:\n  SourceName|endswith: .sct\ncondition: sel",
        "kw": "keywords:\n  - 'evil.test'\ncondition: keywords",
    }
    rs = hunter.rules(rules)
    files = [
        [win_event({"CommandLine": "regsvr32 /i:x scrobj.dll"}, record=1), win_event({"Image": "a"})],
        [win_event({"Image": "b"}, record=1), win_event({"Source Name": "x.SCT", "Image": "c"}, record=2)],
        [win_event({"CommandLine": "calc"}, record=1), win_event({"Other": "http://evil.test/"}, record=2)],
    ]
    results = [hunter.read(events, f"f{n}.json") for n, events in enumerate(files)]
    run = ENGINES[hunter.engine](rs.rules).run(results)
    got = {(h.file_id, h.row, rs.rules[h.rule].title) for h in run.hits}
    assert got == {(0, 0, "scrobj"), (1, 1, "defender"), (2, 1, "kw")}
