"""Sigma rules on the Spark engine: the same plans and the same hits as :class:`~aptcatch.hunt.sigma.vector.
VectorSigma`, evaluated by Spark SQL, many rules per query.

Events are grouped by their segment constants, as VectorSigma groups them (``Channel``/``EventID``/… for
Windows, ``event.dataset`` for Zeek, none for Squid and generic JSON), and each group is planned once by
:class:`~aptcatch.hunt.sigma.plan.Planner` over the union of the fields its events have. A group can hold
two parts, each evaluated by one query per :data:`CHUNK` rules rendered with
:func:`~aptcatch.hunt.sigma.evaluate.select_sql` (Spark dialect); the queries of all groups run as a
``UNION ALL`` of :data:`UNION` queries per Spark job (starting a job costs more than these queries):

* **read in Python** (EVTX, Windows JSON, CSV …): the segments of every file with these constants
  stacked into one Arrow table (text columns; ``@row`` = file id << 32 | row) and handed to Spark;
* **read by Spark** (Zeek, Squid, JSON lines): the engine's frame, its ``raw`` map projected to columns the
  way the Python readers build their segments — Zeek: every key of the records (the RockNSM ``id_orig_h``
  also as ``id.orig_h``, as :mod:`aptcatch.hunt.readers.zeek` does for JSON), ``event.dataset`` as the
  constant; Squid and generic JSON: the normalised columns and the raw fields that hold a value. The
  frame is persisted (memory and disk) for the run: one job finds the field names of each group, the
  queries then read the persisted events. ``@row`` carries the file id, the row key, the normalised
  columns and the event's fields, so a match needs no second look at the data: matched rows are pinned
  into the file's ``table`` (as the IOC sweep pins its matches) and their fields become the file's
  segments, which is what the alerts and correlations read.

Hits are ``Hit(file_id, row, rule)`` with ``row`` a row of ``results[file_id].table``; ``applied`` and
``blind`` are accumulated per group as VectorSigma does. Differences from the Python readers' segments
are those of the engine's reading (docs/spark.md): a Zeek JSON file's log type is settled per record, a
RockNSM ``id_*`` field is aliased per record (Python: per file, when no record has the dotted name),
JSON objects inside a raw field are compact JSON. Matching itself follows the SQL renderer's semantics
(Java regular expressions for ``|re``; Spark's ``lower``).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from aptcatch.hunt.engines.spark_sql import lit
from aptcatch.hunt.readers.base import NORMALISED, ROW, ReadResult, Segment
from aptcatch.hunt.readers.zeek import RECORD_PREFIXES
from aptcatch.hunt.sigma import ir, sql
from aptcatch.hunt.sigma.evaluate import Hit, SigmaRun, select_sql
from aptcatch.hunt.sigma.plan import Planner, SegmentPlan, sigma_columns
from aptcatch.hunt.sigma.rules import CompiledRule

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["CHUNK", "UNION", "SparkSigma"]

CHUNK = 100  # rules per query (Spark compiles one method per query; big ones fall back to interpretation)
Key = tuple[tuple[str, str], ...]  # a group's constants, sorted
UNION = 32  # queries per Spark job
_SHIFT = 32  # @row of a Python-read event: file id << 32 | row
_LOW = (1 << _SHIFT) - 1
_q = sql.SPARK.quote


def _text_table(table: pa.Table, file_id: int) -> pa.Table:
    """A segment as text columns with Sigma's names and ``@row`` = file id << 32 | row."""
    table = sigma_columns(table)
    cols: dict[str, pa.Array | pa.ChunkedArray] = {}
    for name in table.column_names:
        c = table.column(name)
        if name == ROW:
            cols[name] = pa.array(
                (np.int64(file_id) << _SHIFT) | c.to_numpy().astype(np.int64), type=pa.int64()
            )
        else:
            cols[name] = c if pa.types.is_string(c.type) else c.cast(pa.string())
    return pa.table(cols)


@dataclass
class _Group:
    """The events of one shape: Python-read tables and whether Spark-read events belong to it."""

    constants: dict[str, str]
    tables: list[pa.Table] = field(default_factory=list)
    spark_fields: set[str] = field(default_factory=set)
    spark_rows: bool = False

    def present(self) -> frozenset[str]:
        names = {c for t in self.tables for c in t.column_names if c != ROW}
        return frozenset(names | self.spark_fields)


@dataclass
class _Matched:
    """A Spark-read event that matched: its normalised columns, its fields, its group's constants."""

    norm: dict[str, Any]
    fields: dict[str, str | None]
    constants: Key
    rules: set[int] = field(default_factory=set)


def _keys_sql() -> str:
    """The field names of one staged event (see :meth:`SparkSigma._stage`): Zeek, every key of the record
    (and the RockNSM aliases in JSON); other formats, the normalised columns and raw fields that hold a
    value (the Python readers drop columns without any)."""
    present = ", ".join(
        f"IF({_q(n)} IS NOT NULL, {lit(n)}, NULL)" for n in NORMALISED if n != "event.original"
    )
    prefixes = "|".join(RECORD_PREFIXES)
    aliases = (
        f"transform(filter(map_keys(raw), k -> k RLIKE '^({prefixes})_'),"
        f" k -> regexp_replace(k, '^({prefixes})_', '$1.'))"
    )
    return (
        f"IF(g IS NOT NULL, array_union(map_keys(raw), IF(zj, {aliases}, array())),"
        f" array_union(filter(array({present}), x -> x IS NOT NULL),"
        " array_remove(map_keys(map_filter(coalesce(raw, map()), (k, v) -> v IS NOT NULL)),"
        " 'event.original')))"
    )


def _chunks(items: Sequence[tuple[int, ir.Expr]]) -> Iterable[Sequence[tuple[int, ir.Expr]]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


class SparkSigma:
    """Rules compiled and planned once; every group of events evaluated with Spark SQL."""

    def __init__(
        self, spark: SparkSession, rules: Sequence[CompiledRule], *, cache_key: str | None = None
    ) -> None:
        self.spark = spark
        self.rules = list(rules)
        self.planner = Planner(self.rules, cache_key)
        self._counter = itertools.count()
        self._made: list[str] = []

    # -- grouping ------------------------------------------------------------------------------------

    def _groups(
        self, results: Sequence[ReadResult], frame: DataFrame | None, spark_ids: Sequence[int]
    ) -> dict[Key, _Group]:
        groups: dict[Key, _Group] = {}
        read_by_spark = set(spark_ids)
        for file_id, result in enumerate(results):
            if file_id in read_by_spark:
                continue
            for seg in result.sigma_segments():
                if seg.rows:
                    key: Key = tuple(sorted(seg.constants.items()))
                    g = groups.setdefault(key, _Group(dict(seg.constants)))
                    g.tables.append(_text_table(seg.table, file_id))
        if frame is not None:
            names = frame.selectExpr(
                "g", f"explode(array_union(array(CAST(NULL AS STRING)), {_keys_sql()}))"
            ).distinct()
            for row in names.collect():
                dataset, name = row[0], row[1]
                shape: Key = (("event.dataset", dataset),) if dataset is not None else ()
                g = groups.setdefault(shape, _Group(dict(shape)))
                g.spark_rows = True
                if name is not None:
                    g.spark_fields.add(name)
        return groups

    # -- the Spark-read part -------------------------------------------------------------------------

    def _stage(self, frame: DataFrame, results: Sequence[ReadResult], spark_ids: Sequence[int]) -> DataFrame:
        """The frame's events with ``g`` (the Zeek dataset, NULL for other formats) and ``zj`` (Zeek JSON)."""
        zeek = [i for i in spark_ids if results[i].format.startswith("zeek")]
        zjson = [i for i in spark_ids if results[i].format == "zeek-json"]
        in_zeek = f"file_id IN ({', '.join(map(str, zeek))})" if zeek else "false"
        in_zjson = f"file_id IN ({', '.join(map(str, zjson))})" if zjson else "false"
        return frame.where("NOT bad").selectExpr(
            "*", f"IF({in_zeek}, `event.dataset`, CAST(NULL AS STRING)) AS g", f"{in_zjson} AS zj"
        )

    @staticmethod
    def _column(name: str, zeek: bool) -> str:
        """SQL for one field of a Spark-read event."""
        if not zeek and name in NORMALISED:
            return _q(name)
        value = f"try_element_at(raw, {lit(name)})"
        prefix = next((p for p in RECORD_PREFIXES if name.startswith(p + ".")), None)
        if zeek and prefix is not None:  # RockNSM: id_orig_h read as id.orig_h (Zeek JSON only)
            under = f"try_element_at(raw, {lit(prefix + '_' + name[len(prefix) + 1 :])})"
            return f"IF(zj AND NOT map_contains_key(raw, {lit(name)}), {under}, {value})"
        return value

    def _spark_queries(
        self, frame: DataFrame, key: Key, columns: Sequence[str], plan: SegmentPlan
    ) -> list[str]:
        """The queries of one group's Spark-read events (rules true for every event included, as TRUE)."""
        work = [*plan.run, *((i, ir.TRUE) for i in plan.every_row)]
        if not work:
            return []
        dataset = dict(key).get("event.dataset") if key else None
        zeek = bool(key)
        where = f"g <=> {lit(dataset)}" if dataset is not None else "g IS NULL"
        norm = ", ".join(f"{lit(n)}, {_q(n)}" for n in NORMALISED)
        staged = frame.where(where).selectExpr(
            "file_id",
            "rk",
            "g",
            f"map({norm}) AS `@norm`",
            *[f"{self._column(c, zeek)} AS {_q(c)}" for c in columns],
        )
        fields = ", ".join(f"{lit(c)}, {_q(c)}" for c in columns)
        fields = f"map({fields})" if columns else "CAST(map() AS map<string,string>)"
        events = staged.selectExpr(
            f"named_struct('file_id', file_id, 'rk', rk, 'g', g, 'norm', `@norm`, 'fields', {fields})"
            f" AS {_q(ROW)}",
            *[_q(c) for c in columns],
        )
        view = self._view(events)
        return [select_sql(chunk, columns, sql.SPARK, view) for chunk in _chunks(work)]

    def _python_queries(
        self, tables: list[pa.Table], columns: Sequence[str], plan: SegmentPlan, out: SigmaRun
    ) -> list[str]:
        """The queries of one group's Python-read events; rules true for every event hit here directly."""
        table = pa.concat_tables(tables, promote_options="permissive")
        rows = table.column(ROW).to_numpy()
        for idx in plan.every_row:
            out.hits.extend(Hit(int(r >> _SHIFT), int(r & _LOW), idx) for r in rows)
        if not plan.run:
            return []
        for name in columns:
            if name not in table.column_names:
                table = table.append_column(name, pa.nulls(table.num_rows, pa.string()))
        view = self._view(self.spark.createDataFrame(table.select([ROW, *columns])))
        return [select_sql(chunk, columns, sql.SPARK, view) for chunk in _chunks(plan.run)]

    def _view(self, df: DataFrame) -> str:
        name = f"aptcatch_sigma_{next(self._counter)}"
        df.createOrReplaceTempView(name)
        self._made.append(name)
        return name

    def _collect(self, queries: Sequence[str], out: SigmaRun) -> Iterator[Any]:
        """The rows of all queries, :data:`UNION` of them per Spark job (a job costs ~0.1-1 s to start)."""
        for start in range(0, len(queries), UNION):
            batch = [self.spark.sql(q) for q in queries[start : start + UNION]]
            out.queries += len(batch)
            df = batch[0]
            for other in batch[1:]:
                df = df.union(other)
            yield from df.collect()

    # -- the run -------------------------------------------------------------------------------------

    def run(
        self, results: Sequence[ReadResult], frame: DataFrame | None, spark_ids: Sequence[int]
    ) -> SigmaRun:
        """``frame``: the engine's frame of the Spark-read files (``spark_ids``), None when there are none."""
        from pyspark import StorageLevel

        out = SigmaRun()
        staged = self._stage(frame, results, spark_ids) if frame is not None else None
        if staged is not None:  # read once: for the field names, then by every group's query
            staged = staged.persist(StorageLevel.MEMORY_AND_DISK)
        conf = self.spark.conf.get("spark.sql.caseSensitive")
        self.spark.conf.set("spark.sql.caseSensitive", "true")  # Zeek's "host" and a "Host" are two fields
        matched: dict[tuple[int, int], _Matched] = {}
        try:
            groups = self._groups(results, staged, spark_ids)
            seen_missing: dict[int, frozenset[str]] = {}
            py_queries: list[str] = []
            spark_queries: list[str] = []
            for key, g in groups.items():
                out.segments += 1
                present = g.present()
                plan = self.planner.plan(g.constants, present)
                for i in {i for i, _ in plan.run} | set(plan.every_row) | set(plan.missing):
                    miss = plan.missing.get(i, frozenset())
                    seen_missing[i] = seen_missing[i] & miss if i in seen_missing else miss
                    out.applied.add(i)
                columns = sorted(present)
                if g.tables and (plan.run or plan.every_row):
                    py_queries += self._python_queries(g.tables, columns, plan, out)
                if g.spark_rows and staged is not None:
                    spark_queries += self._spark_queries(staged, key, columns, plan)
            out.blind = {i: m for i, m in seen_missing.items() if m}
            self.planner.flush()
            for row in self._collect(py_queries, out):
                r = int(row["r"])
                out.hits.extend(Hit(r >> _SHIFT, r & _LOW, int(i)) for i in row["h"])
            for row in self._collect(spark_queries, out):
                r = row["r"]
                k = (int(r["file_id"]), int(r["rk"]))
                m = matched.get(k)
                if m is None:
                    shape: Key = (("event.dataset", r["g"]),) if r["g"] is not None else ()
                    m = matched[k] = _Matched(dict(r["norm"]), dict(r["fields"]), shape)
                m.rules.update(int(i) for i in row["h"])
        finally:
            for name in self._made:
                self.spark.catalog.dropTempView(name)
            self._made.clear()
            if staged is not None:
                staged.unpersist()
            self.spark.conf.set("spark.sql.caseSensitive", conf or "false")
        out.hits += _pin(results, spark_ids, matched)
        out.hits.sort(key=lambda h: (h.file_id, h.row, h.rule))
        return out


def _pin(
    results: Sequence[ReadResult], spark_ids: Sequence[int], matched: dict[tuple[int, int], _Matched]
) -> list[Hit]:
    """Matched Spark-read events into their files' tables; their fields become the files' segments
    (only the matched events: that is what alerts and correlations read)."""
    from aptcatch.hunt.engines.spark import SparkReadResult

    by_file: dict[int, list[tuple[int, _Matched]]] = defaultdict(list)
    for (file_id, rk), m in matched.items():
        by_file[file_id].append((rk, m))
    hits: list[Hit] = []
    for file_id in spark_ids:
        result = results[file_id]
        assert isinstance(result, SparkReadResult)
        items = sorted(by_file.get(file_id, []), key=lambda x: x[0])
        rows = result.pin([{"rk": rk, **m.norm} for rk, m in items])
        by_shape: dict[Key, list[tuple[int, _Matched]]] = defaultdict(list)
        for row, (_, m) in zip(rows, items, strict=True):
            hits += [Hit(file_id, row, i) for i in sorted(m.rules)]
            by_shape[m.constants].append((row, m))
        segments = []
        for key, events in by_shape.items():
            names = sorted({n for _, m in events for n in m.fields})
            table = pa.table(
                {
                    **{n: pa.array([m.fields.get(n) for _, m in events], pa.string()) for n in names},
                    ROW: pa.array([row for row, _ in events], pa.int64()),
                }
            )
            segments.append(Segment(table, dict(key)))
        result.segments = segments
    return hits
