"""available_cores: the process's CPU affinity where the OS gives it, else the machine's count."""

from __future__ import annotations

import os

import pytest

from aptcatch.cores import available_cores


def test_affinity_first_then_cpu_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3, 5}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert available_cores() == 3
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    assert available_cores() == 16
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert available_cores() == 1
