"""Alerts as JSON lines: one valid UTF-8 JSON object per line, whatever the values hold."""

from __future__ import annotations

import json
from typing import Any

import pytest

from aptcatch.hunt.cli import _json_line


@pytest.mark.parametrize(
    "doc",
    [
        {"event.original": 'Größe \u2603 "q" \\ \n', "threat.technique.id": ["T1218.010"], "n": 3},
        {"event.code": 2**70, "x": None},  # beyond 64 bits: orjson refuses it
        {"event.original": "half a pair \ud800 here"},  # a lone surrogate: not encodable as UTF-8
    ],
)
def test_each_alert_is_one_line_of_json(doc: dict[str, Any]) -> None:
    line = _json_line(doc)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line.decode("utf-8")) == doc
