from __future__ import annotations

import io
import time

import pytest

from aptcatch.capture.limits import AnalyzerTimeout, LimitExceeded, deadline, read_limited


def test_read_limited_stops_at_limit() -> None:
    assert read_limited(io.BytesIO(b"x" * 100), 100) == b"x" * 100
    with pytest.raises(LimitExceeded):
        read_limited(io.BytesIO(b"x" * 101), 100)


def test_deadline_interrupts_python_loop() -> None:
    start = time.monotonic()
    with pytest.raises(AnalyzerTimeout), deadline(0.2):
        while True:
            pass
    assert time.monotonic() - start < 5


def test_deadline_does_not_fire_after_block() -> None:
    with deadline(0.05):
        pass
    time.sleep(0.1)  # would raise here if the timer were left armed
