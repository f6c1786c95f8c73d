"""One local Spark session per process for the hunt's Spark engine: configured once, reused, stopped cleanly.

Local mode (``local[N]``), no web UI, UTC session time zone, few shuffle partitions (the hunt's shuffles
are tiny: per-file counts and the matched rows), quiet logging from the first line (a log4j2 file written
to a private temporary folder), driver bound to 127.0.0.1. Nothing is ever fetched from the network:
``spark.jars.packages`` / ``spark.jars.repositories`` (Ivy downloads) are refused, whether given as
options or in ``PYSPARK_SUBMIT_ARGS``; extra jars (e.g. hadoop-aws for ``s3a://``) are added by the user
with ``spark.jars`` pointing at local files.

Spark 4 needs Java 17 or newer; when none is found the error says so before any JVM is launched.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

MIN_JAVA = 17
_FORBIDDEN_CONF = ("spark.jars.packages", "spark.jars.repositories", "spark.jars.ivySettings")
_LOG4J = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
"""


class SparkUnavailable(RuntimeError):
    """Spark cannot run here: no pyspark, no Java 17+, or the JVM did not start."""


@dataclass(frozen=True)
class SparkOptions:
    """How the local session is built. ``conf`` entries are passed to Spark as they are (after checks)."""

    cores: int | None = None  # local[N]; None: every core of the machine
    master: str | None = None  # overrides ``cores`` (e.g. an existing cluster's master URL)
    driver_memory: str = "2g"
    shuffle_partitions: int | None = None  # None: 2 x cores
    conf: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def master_url(self) -> str:
        return self.master or f"local[{self.cores or os.cpu_count() or 1}]"

    def settings(self) -> dict[str, str]:
        cores = self.cores or os.cpu_count() or 1
        out = {
            "spark.master": self.master_url(),
            "spark.app.name": "aptcatch-hunt",
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.session.timeZone": "UTC",
            "spark.sql.shuffle.partitions": str(self.shuffle_partitions or 2 * cores),
            "spark.driver.memory": self.driver_memory,
            "spark.sql.mapKeyDedupPolicy": "LAST_WIN",  # a repeated JSON key: the last wins, as in json.loads
            "spark.sql.execution.arrow.pyspark.enabled": "true",
        }
        if self.master is None:
            out["spark.driver.host"] = "127.0.0.1"
            out["spark.driver.bindAddress"] = "127.0.0.1"
        for key, value in self.conf:
            if key in _FORBIDDEN_CONF:
                raise ValueError(
                    f"{key} makes Spark download jars; aptcatch never fetches anything: put the jar files "
                    "on this machine and name them in spark.jars instead"
                )
            out[key] = value
        return out


def java_version() -> tuple[str | None, int | None]:
    """The java executable Spark will launch (JAVA_HOME first, then PATH) and its major version."""
    home = os.environ.get("JAVA_HOME")
    exe = str(Path(home) / "bin" / "java") if home and (Path(home) / "bin" / "java").is_file() else None
    exe = exe or shutil.which("java")
    if exe is None:
        return None, None
    try:
        proc = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return exe, None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', proc.stderr + proc.stdout)
    if m is None:
        return exe, None
    major = int(m[1])
    return exe, int(m[2] or 0) if major == 1 else major


def check_runtime() -> None:
    """Raise :class:`SparkUnavailable` with what to do when pyspark or a Java 17+ is missing."""
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise SparkUnavailable(
            "pyspark is not installed: run scripts/bootstrap.sh (pip install -e .)"
        ) from exc
    exe, major = java_version()
    if exe is None:
        raise SparkUnavailable(
            f"the Spark engine needs Java {MIN_JAVA} or newer and none was found (JAVA_HOME unset, no java "
            "on PATH): run scripts/bootstrap.sh (installs openjdk-17-jre-headless) or set JAVA_HOME"
        )
    if major is None or major < MIN_JAVA:
        raise SparkUnavailable(
            f"the Spark engine needs Java {MIN_JAVA} or newer; {exe} is version {major or 'unknown'}: "
            "set JAVA_HOME to a newer JDK/JRE or run scripts/bootstrap.sh"
        )
    submit = os.environ.get("PYSPARK_SUBMIT_ARGS", "")
    if "--packages" in submit or "--repositories" in submit:
        raise SparkUnavailable("PYSPARK_SUBMIT_ARGS asks for --packages: aptcatch never downloads jars")


_state: dict[str, object] = {}


def _log4j_file() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="aptcatch-spark-"))
    path = folder / "log4j2.properties"
    path.write_text(_LOG4J, encoding="utf-8")
    _state["log_dir"] = folder
    return path


def get_session(options: SparkOptions | None = None) -> SparkSession:
    """The process's session, started on first use; asking with other options restarts it."""
    options = options or SparkOptions()
    current = _state.get("session")
    if current is not None and _state.get("options") == options:
        return current  # type: ignore[return-value]
    if current is not None:
        stop_session()
    check_runtime()
    from pyspark.sql import SparkSession

    settings = options.settings()
    if options.master is None:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    java_opts = f"-Dlog4j2.configurationFile={_log4j_file().as_uri()}"
    extra = settings.pop("spark.driver.extraJavaOptions", "")
    settings["spark.driver.extraJavaOptions"] = f"{java_opts} {extra}".strip()
    builder = SparkSession.builder
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # the JVM did not come up (PySparkRuntimeError, OSError ...)
        raise SparkUnavailable(f"Spark did not start: {exc}") from exc
    session.sparkContext.setLogLevel("ERROR")
    _state["session"], _state["options"] = session, options
    return session


def stop_session() -> None:
    """Stop the session (if any) and remove its temporary files."""
    session = _state.pop("session", None)
    _state.pop("options", None)
    if session is not None:
        session.stop()  # type: ignore[attr-defined]
    folder = _state.pop("log_dir", None)
    if isinstance(folder, Path):
        shutil.rmtree(folder, ignore_errors=True)


atexit.register(stop_session)
