"""Shared fixtures of the hunt tests: one Spark engine per test process (the JVM starts once)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from aptcatch.hunt.engines import EngineOptions, open_engine
from aptcatch.hunt.engines.spark_session import SparkUnavailable, check_runtime


def spark_ready() -> str | None:
    """None when Spark can start here, else why not (no pyspark, no Java 17)."""
    try:
        check_runtime()
    except SparkUnavailable as exc:
        return str(exc)
    return None


@pytest.fixture(scope="session")
def spark_engine() -> Iterator[Any]:
    reason = spark_ready()
    if reason is not None:
        pytest.skip(f"Spark unavailable: {reason}")
    engine = open_engine("spark", EngineOptions(cores=2, driver_memory="1g"))
    with engine:
        yield engine
