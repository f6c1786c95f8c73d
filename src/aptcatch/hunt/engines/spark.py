"""The Spark engine: logs read by Spark (local files, ``file://``, ``hdfs://`` and any filesystem whose Hadoop
class is on the classpath), the IOC sweep as one Spark job, the same :class:`~aptcatch.hunt.ioc.Match`
records as the DuckDB engine.

``read`` lists the inputs (local folders in Python, URIs with Hadoop's FileSystem through the session's
JVM), detects each file's format from its first 64 KiB, and reads nothing else: Zeek, Squid and JSON-lines
files become :class:`SparkReadResult` (read by Spark at sweep time), other formats are read by the Python
readers (local files only) and handed to Spark as Arrow tables. ``sweep_iocs`` runs one pass over all
files; afterwards each :class:`SparkReadResult` knows its row and bad-line counts and holds, as its
``table``, only the rows that matched, which the returned matches point into.
"""

from __future__ import annotations

import re
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PosixPath
from types import TracebackType
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from aptcatch.hunt.engines import EngineError, EngineOptions, Reading
from aptcatch.hunt.engines.duckdb import expand
from aptcatch.hunt.engines.spark_ioc import sweep_frame
from aptcatch.hunt.engines.spark_read import (
    FRAME_COLUMNS,
    SPARK_FORMATS,
    SparkFile,
    TsvHeader,
    from_arrow,
    read_json,
    read_squid,
    read_zeek_json,
    read_zeek_tsv,
    tsv_headers,
)
from aptcatch.hunt.engines.spark_session import SparkOptions, SparkUnavailable, get_session, stop_session
from aptcatch.hunt.ioc import IndicatorSet, Match
from aptcatch.hunt.readers import NORMALISED, ReadResult, build_table, detect_format, read_log

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from aptcatch.hunt.sigma.evaluate import SigmaRun
    from aptcatch.hunt.sigma.rules import CompiledRule

_URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_GLOB = set("*?[]{}\\:")  # Hadoop reads these in a name as glob or scheme syntax
_HEAD = 65536


class UriPath(PosixPath):
    """A remote file's path that prints as its URI (``hdfs://nn/logs/conn.log``), for alerts and summary."""

    _uri = ""

    def __str__(self) -> str:
        return self._uri or super().__str__()


def uri_path(uri: str) -> Path:
    p = UriPath(uri.split("://", 1)[1])
    p._uri = uri
    return p


@dataclass
class SparkReadResult(ReadResult):
    """A file Spark reads. ``rows``/``bad_lines`` are filled by the first pass over the data; ``table`` holds
    the rows matches point at (``pinned``: Spark row key -> row in ``table``)."""

    file: SparkFile | None = None
    mapping: dict[str, str] | None = None
    total_rows: int | None = None
    pinned: dict[int, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return self.total_rows if self.total_rows is not None else int(self.table.num_rows)

    def pin(self, rows: Sequence[dict[str, Any]]) -> list[int]:
        """Append the rows (``rk`` plus columns) not yet held; their positions in ``table``, in order."""
        new = {int(r["rk"]): r for r in rows if int(r["rk"]) not in self.pinned}
        if new:
            order = sorted(new)
            start = int(self.table.num_rows)
            extra = build_table([{k: v for k, v in new[rk].items() if k in NORMALISED} for rk in order])
            self.table = pa.concat_tables([self.table, extra.select(self.table.column_names)])
            for i, rk in enumerate(order):
                self.pinned[rk] = start + i
        return [self.pinned[int(r["rk"])] for r in rows]


def _missing_fs(scheme: str, exc: Exception) -> EngineError:
    extra = (
        "hadoop-aws-<hadoop version>.jar and the AWS SDK v2 bundle jar it was built with"
        if scheme in ("s3a", "s3", "s3n")
        else f"the jar that provides the Hadoop FileSystem for {scheme}://"
    )
    return EngineError(
        f"Spark has no filesystem for {scheme}:// ({str(exc).splitlines()[0][:200]}). "
        "aptcatch ships none and "
        f"never downloads jars: put {extra} on this machine and pass them with --spark-conf "
        "spark.jars=/path/a.jar,/path/b.jar (plus the fs.s3a.* credentials settings as "
        "spark.hadoop.fs.s3a.* for S3)"
    )


class SparkEngine:
    name = "spark"

    def __init__(self, options: EngineOptions | None = None) -> None:
        o = options or EngineOptions()
        self.options = SparkOptions(cores=o.cores, driver_memory=o.driver_memory, conf=o.spark_conf)

    @property
    def spark(self) -> SparkSession:
        try:
            return get_session(self.options)
        except (SparkUnavailable, ValueError) as exc:  # ValueError: a refused setting (spark.jars.packages)
            raise EngineError(str(exc)) from exc

    # -- reading -------------------------------------------------------------------------------------

    def _qualify(self, path: str) -> tuple[str, str]:
        """Hadoop's qualified form of a path (for spark.read) and its URI (as ``_metadata.file_path``)."""
        jvm = self.spark.sparkContext._jvm
        assert jvm is not None
        p = jvm.org.apache.hadoop.fs.Path(path)
        q = p.getFileSystem(self.spark.sparkContext._jsc.hadoopConfiguration()).makeQualified(p)
        return str(q.toString()), self._key(str(q.toString()))

    def _key(self, qpath: str) -> str:
        """How Spark names the file in ``_metadata.file_path`` (URL-encoded)."""
        jvm = self.spark.sparkContext._jvm
        assert jvm is not None
        return str(jvm.org.apache.spark.paths.SparkPath.fromPathString(qpath).urlEncoded())

    def _list_remote(self, uri: str) -> tuple[list[tuple[str, str, int]], bool]:
        """(qualified path, Spark's key, size) of every file at or under ``uri``; False: it does not exist."""
        sc = self.spark.sparkContext
        jvm = sc._jvm
        assert jvm is not None
        path = jvm.org.apache.hadoop.fs.Path(uri)
        try:
            fs = path.getFileSystem(sc._jsc.hadoopConfiguration())
        except Exception as exc:  # py4j's Py4JJavaError: UnsupportedFileSystemException, ClassNotFound
            scheme = _URI.match(uri)
            raise _missing_fs(scheme[1] if scheme else "?", exc) from None
        if not fs.exists(path):
            return [], False
        out = []
        it = fs.listFiles(path, True)
        while it.hasNext():
            st = it.next()
            p = st.getPath()
            if p.getName().startswith(("_", ".")):  # _SUCCESS, .crc and other Hadoop side files
                continue
            out.append((str(p.toString()), self._key(str(p.toString())), int(st.getLen())))
        return sorted(out), True

    def _head(self, path: str) -> bytes:
        sc = self.spark.sparkContext
        jvm = sc._jvm
        assert jvm is not None
        p = jvm.org.apache.hadoop.fs.Path(path)
        stream = p.getFileSystem(sc._jsc.hadoopConfiguration()).open(p)
        try:
            return bytes(stream.readNBytes(_HEAD))
        finally:
            stream.close()

    def read(
        self, sources: Sequence[str], fmt: str | None = None, mapping: dict[str, str] | None = None
    ) -> Reading:
        results: list[ReadResult] = []
        missing: list[str] = []
        pending: list[SparkReadResult] = []
        for source in sources:
            m = _URI.match(source)
            if m is None or m[1].lower() == "file":
                files, gone = expand([source])
                missing += gone
                for f in files:
                    results.append(self._open_local(f.resolve(), fmt, mapping, pending))
                continue
            listed, exists = self._list_remote(source)
            if not exists:
                missing.append(source)
            for qpath, key, _size in listed:
                results.append(self._open_remote(qpath, key, fmt, mapping, pending))
        for i, r in enumerate(results):
            if isinstance(r, SparkReadResult) and r.file is not None:
                r.file = SparkFile(i, r.file.path, r.file.key, r.file.name)
        tsv = [r for r in pending if r.format == "zeek-tsv"]
        if tsv:
            self._settle_tsv(results, tsv)
        return Reading(results, missing)

    def _open_local(
        self, path: Path, fmt: str | None, mapping: dict[str, str] | None, pending: list[SparkReadResult]
    ) -> ReadResult:
        chosen = fmt or detect_format(path)
        if chosen in SPARK_FORMATS and not (_GLOB & set(str(path))):
            qpath, key = self._qualify(str(path))
            r = SparkReadResult(
                path, chosen, build_table([]), file=SparkFile(-1, qpath, key, path.name), mapping=mapping
            )
            pending.append(r)
            return r
        return read_log(path, fmt, mapping)  # a Python reader: EVTX, Windows JSON, CSV, awkward names

    def _open_remote(
        self,
        qpath: str,
        key: str,
        fmt: str | None,
        mapping: dict[str, str] | None,
        pending: list[SparkReadResult],
    ) -> ReadResult:
        chosen = fmt
        if chosen is None:
            with tempfile.NamedTemporaryFile(prefix="aptcatch-head-") as tmp:
                tmp.write(self._head(qpath))
                tmp.flush()
                chosen = detect_format(Path(tmp.name))
        path = uri_path(qpath)
        if chosen in SPARK_FORMATS:
            name = qpath.rstrip("/").rsplit("/", 1)[-1]
            r = SparkReadResult(
                path, chosen, build_table([]), file=SparkFile(-1, qpath, key, name), mapping=mapping
            )
            pending.append(r)
            return r
        why = (
            "format not recognised" if chosen is None else f"{chosen} is read by Spark from local files only"
        )
        return ReadResult(path, chosen or "unknown", build_table([]), 0, [why])

    def _settle_tsv(self, results: list[ReadResult], tsv: list[SparkReadResult]) -> None:
        """Read the Zeek TSV headers; a file with several different headers goes to the Python reader."""
        files = [r.file for r in tsv if r.file is not None]
        headers = tsv_headers(self.spark, files)
        for r in tsv:
            assert r.file is not None
            if headers.get(r.file.file_id) is None:
                local = not isinstance(r.path, UriPath)
                results[r.file.file_id] = (
                    read_log(r.path, "zeek-tsv", r.mapping)
                    if local
                    else ReadResult(
                        r.path, "zeek-tsv", build_table([]), 0, ["several Zeek headers in one remote file"]
                    )
                )
        self._headers = {k: v for k, v in headers.items() if v is not None}

    # -- the sweep -----------------------------------------------------------------------------------

    def frame(self, results: Sequence[ReadResult]) -> DataFrame:
        """All events of the results as one frame (:data:`FRAME_COLUMNS`), ``file_id`` = position."""
        spark = self.spark
        groups: dict[tuple[str, int], list[SparkFile]] = defaultdict(list)
        mappings: dict[int, dict[str, str] | None] = {}
        frames: list[DataFrame] = []
        headers: dict[int, TsvHeader] = {}
        for i, r in enumerate(results):
            if isinstance(r, SparkReadResult) and r.file is not None:
                f = SparkFile(i, r.file.path, r.file.key, r.file.name)
                groups[(r.format, id(r.mapping))].append(f)
                mappings[id(r.mapping)] = r.mapping
                if r.format == "zeek-tsv":
                    h = getattr(self, "_headers", {}).get(r.file.file_id)
                    if h is None:
                        raise EngineError(
                            f"{r.path}: Zeek TSV header unknown (read it with this engine's read)"
                        )
                    headers[i] = h
            elif r.rows:
                frames.append(from_arrow(spark, i, r))
        for (fmt, mid), files in groups.items():
            if fmt == "zeek-json":
                frames.append(read_zeek_json(spark, files))
            elif fmt == "zeek-tsv":
                frames.append(read_zeek_tsv(spark, files, headers))
            elif fmt == "squid":
                frames.append(read_squid(spark, files))
            else:
                frames.append(read_json(spark, files, mappings[mid]))
        if not frames:
            return spark.createDataFrame(
                [], from_arrow(spark, 0, ReadResult(Path("-"), "-", build_table([]))).schema
            )
        out = frames[0]
        for other in frames[1:]:
            out = out.unionByName(other)
        return out.select(*[f"`{c}`" for c in FRAME_COLUMNS])

    def sweep_iocs(self, results: Sequence[ReadResult], indicators: IndicatorSet) -> list[Match]:
        keys, per_file = sweep_frame(self.spark, self.frame(results), indicators)
        matches: list[Match] = []
        for file_id, r in enumerate(results):
            found = per_file.get(file_id)
            if isinstance(r, SparkReadResult):
                r.total_rows = found.rows if found else 0
                r.bad_lines = found.bad_lines if found else 0
                if r.bad_lines:
                    r.errors = [
                        f"{r.bad_lines} lines are no {r.format} event, e.g. "
                        f"{(found.sample if found else '')!r:.200}"
                    ]
            if found is None or not found.hits:
                continue
            rows = r.pin(found.hits) if isinstance(r, SparkReadResult) else [int(h["rk"]) for h in found.hits]
            for h, row in zip(found.hits, rows, strict=True):
                itype, value = keys.entries[int(h["ind_id"])]
                matches.append(
                    Match(file_id, row, h["field"], h["observed"], h["rule_id"], h["match"], itype, value)
                )
        matches.sort(key=lambda m: (m.file_id, m.row_id, m.field, m.itype, m.value))
        return matches

    def prepare_sigma(self, rules: Sequence[CompiledRule], *, cache_key: str | None = None) -> None:
        """Nothing to prepare: Spark evaluates in :meth:`run_sigma`, over the data it keeps."""

    def run_sigma(
        self, results: Sequence[ReadResult], rules: Sequence[CompiledRule], *, cache_key: str | None = None
    ) -> SigmaRun:
        """The rules over every file (:mod:`.spark_sigma`); Spark-read files get their matched rows pinned
        into ``table`` and their fields as ``segments``, as the sweep pins its matches."""
        from aptcatch.hunt.engines.spark_sigma import SparkSigma

        spark_ids = [
            i for i, r in enumerate(results) if isinstance(r, SparkReadResult) and r.file is not None
        ]
        frame = None
        if spark_ids:  # the frame of the Spark-read files only (the others go through Arrow as segments)
            only = set(spark_ids)
            frame = self.frame(
                [
                    r if i in only else ReadResult(r.path, r.format, build_table([]))
                    for i, r in enumerate(results)
                ]
            )
        return SparkSigma(self.spark, rules, cache_key=cache_key).run(results, frame, spark_ids)

    def close(self) -> None:
        stop_session()

    def __enter__(self) -> SparkEngine:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
