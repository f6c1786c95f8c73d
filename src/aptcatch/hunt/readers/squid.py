"""Squid access logs, read and normalised by DuckDB (:mod:`aptcatch.hunt.readers.duck`).

Two layouts, chosen from the first line:

* native: ``time elapsed client action/code size method URL ident hierarchy/peer [type]``, fields cut
  on white space (runs of spaces allowed, as Squid pads ``elapsed``);
* common / combined (``logformat common`` / ``combined``, also Apache-style proxies):
  ``client ident user [dd/Mon/yyyy:HH:MM:SS +zone] "METHOD URL HTTP/x" status size
  ["referer" "user agent"] [action:hierarchy]``.

A line that does not have its layout's shape is a bad line. ``CONNECT host:port`` has no URL: its host is
the domain. ``event.original`` is the line, read back from the file when asked for.

The native layout's lazy read (the IOC sweep's columns) is cut in C when the extension is built
(:mod:`aptcatch.hunt.readers.squidfast`, the same rules, lines it does not handle given to this SQL);
the full table, the common layout and the originals are read by the SQL here.
"""

from __future__ import annotations

import re
from pathlib import Path

from aptcatch.hunt.readers import squidfast
from aptcatch.hunt.readers.duck import (
    BAD,
    EVENT,
    SKIP,
    STATE,
    LineResult,
    run_lines,
    sql_str,
    with_hostport,
)

LINE_RE = re.compile(
    r"^(?P<ts>\d{9,11}(?:\.\d+)?)\s+(?P<elapsed>-?\d+)\s+(?P<client>\S+)\s+(?P<action>[A-Z_]+)/(?P<code>\d{3})"
    r"\s+(?P<size>\d+)\s+(?P<method>\S+)\s+(?P<url>\S+)\s+(?P<ident>\S+)\s+(?P<hier>[A-Z_]+)/(?P<peer>\S+)"
    r"(?:\s+(?P<ctype>\S+))?"
)
COMMON = (
    r'^(\S+) +(\S+) +(\S+) +\[([^\]]+)\] +"(\S+) +(\S+)(?: +[^"]*)?" +(\d{3}) +(\d+|-)'
    r'(?: +"([^"]*)" +"([^"]*)")?(?: +([A-Z_]+):([A-Z_]+))?'
)
COMMON_RE = re.compile(COMMON)
_COMMON_GROUPS = (
    "client",
    "ident",
    "user",
    "time",
    "method",
    "url",
    "code",
    "size",
    "ref",
    "ua",
    "action",
    "hier",
)

# The native line's shape, checked on the whole line by one anchored regular expression: fields are
# runs of characters other than space and tab, separated by runs of spaces and tabs (Squid pads
# ``elapsed``); time, elapsed, action/code, size and hierarchy/peer have their own shapes.
_SEP, _FIELD = r"[ \t]+", r"[^ \t]+"
NATIVE_SHAPE = (
    r"^\d{9,11}(\.\d+)?"
    + _SEP
    + r"-?\d+"
    + _SEP
    + _FIELD
    + _SEP
    + r"[A-Z_]+/\d{3}"
    + _SEP
    + r"\d+"
    + (_SEP + _FIELD) * 3
    + _SEP
    + r"[A-Z_]+/\S+([ \t]|$)"
)

# The URL columns, the same for both layouts: CONNECT's host:port is a domain, not a URL. ``url`` and
# ``hp`` (its host and port, :func:`~aptcatch.hunt.readers.duck.with_hostport`) are source columns.
_TUNNEL = "(method = 'CONNECT' AND NOT contains(url, '://'))"
_URL_COLUMNS = f"""
  CASE WHEN {_TUNNEL} THEN NULL ELSE url END AS "url.full",
  CASE WHEN {_TUNNEL}
       THEN lower(CASE WHEN contains(url, ':') THEN regexp_extract(url, '^(.*):', 1) ELSE url END)
       WHEN contains(url, '://') THEN host_of(hp) END AS "url.domain","""


# The URL's path, query and the extension of its last path segment (Sigma's proxy fields c-uri-stem,
# c-uri-query, c-uri-extension), as regular expressions both DuckDB (RE2) and Spark (Java) read alike;
# the full table only. DuckDB lets a later column read an earlier alias.
URL_PATH_RE = "^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*([^?#]*)"
URL_QUERY_RE = "^[^?#]*[?]([^#]*)"
URL_EXTENSION_RE = "[.]([^./]+)$"
_URL_PARTS = f"""
  nullif(regexp_extract(url, {sql_str(URL_PATH_RE)}, 1), '') AS "url.path",
  CASE WHEN NOT {_TUNNEL} THEN nullif(regexp_extract(url, {sql_str(URL_QUERY_RE)}, 1), '') END AS "url.query",
  nullif(regexp_extract("url.path", {sql_str(URL_EXTENSION_RE)}, 1), '') AS "url.extension\""""


# Columns every event of a layout has a value in (the one value, or None when it varies): with the
# columns the lazy read fills, they tell Sigma which columns the table would have without building it
# (LineResult.sigma_shapes). Native: ts has the shape iso_epoch always converts, method, action and code
# are parts of fields the shape requires.
_NATIVE_FILLED: dict[str, str | None] = {
    "event.dataset": "squid.access",
    "@timestamp": None,
    "http.request.method": None,
    "http.response.status_code": None,
    "event.action": None,
}
_COMMON_FILLED: dict[str, str | None] = {
    "event.dataset": "squid.access",
    "http.request.method": None,
    "http.response.status_code": None,
}


def _native(observed: bool) -> str:
    """The native layout's projection (``observed``: :data:`STATE` and the IOC sweep's columns only)."""
    rest = (
        """,
  'squid.access' AS "event.dataset", nullif(ident, '-') AS "user.name",
  method AS "http.request.method", substr(ac, strpos(ac, '/') + 1) AS "http.response.status_code",
  left(ac, strpos(ac, '/') - 1) AS "event.action","""
        + _URL_PARTS
    )
    return rf"""
, s AS (
  SELECT line, CASE WHEN contains(line, '  ') OR contains(line, chr(9))
    THEN list_filter(string_split(replace(line, chr(9), ' '), ' '), lambda x: x <> '')
    ELSE string_split(line, ' ') END AS f
  FROM l
), p AS (
  SELECT CASE WHEN regexp_matches(line, {sql_str(NATIVE_SHAPE)}) THEN {EVENT} WHEN blank(line) THEN {SKIP}
    ELSE {BAD} END AS {STATE},
    f[1] AS ts, f[3] AS client, f[4] AS ac, f[6] AS method, f[7] AS url, f[8] AS ident, f[9] AS hier
  FROM s
)
SELECT {STATE}, {"" if observed else 'iso_epoch(ts) AS "@timestamp", '}client AS "source.ip",
  nullif(substr(hier, strpos(hier, '/') + 1), '-') AS "destination.ip",
  {_URL_COLUMNS.rstrip().rstrip(",")}{"" if observed else rest}
FROM {with_hostport("p", "url")}
"""


def _common(observed: bool) -> str:
    """The common/combined layout's projection (``observed`` as for :func:`_native`)."""
    rest = (
        """,
  strftime(timezone('UTC', try_strptime(time, '%d/%b/%Y:%H:%M:%S %z')), '%Y-%m-%dT%H:%M:%S.%gZ')
    AS "@timestamp",
  'squid.access' AS "event.dataset",
  coalesce(nullif(nullif("user", '-'), ''), nullif(ident, '-')) AS "user.name",
  nullif(nullif(ua, '-'), '') AS "user_agent.original",
  method AS "http.request.method", code AS "http.response.status_code",
  nullif(nullif(ref, '-'), '') AS "http.request.referrer",
  nullif(action, '') AS "event.action","""
        + _URL_PARTS
    )
    return f"""
, p AS (
  SELECT line, regexp_extract(line, {sql_str(COMMON)}, {list(_COMMON_GROUPS)!r}) AS m FROM l
), q AS (
  SELECT CASE WHEN m.client <> '' THEN {EVENT} WHEN blank(line) THEN {SKIP} ELSE {BAD} END AS {STATE}, m.*
  FROM p
)
SELECT {STATE}, client AS "source.ip", {_URL_COLUMNS.rstrip().rstrip(",")}{"" if observed else rest}
FROM {with_hostport("q", "url")}
"""


def looks_like_squid(line: str) -> bool:
    return LINE_RE.match(line) is not None or COMMON_RE.match(line) is not None


def _first_line(path: Path) -> str:
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.strip():
                return line.rstrip("\r\n")
    return ""


def read_squid(path: Path, mapping: dict[str, str] | None = None) -> LineResult:
    first = _first_line(path)
    common = LINE_RE.match(first) is None and COMMON_RE.match(first) is not None
    select, filled = (_common, _COMMON_FILLED) if common else (_native, _NATIVE_FILLED)
    describe = "not a Squid common/combined access-log line" if common else "not a Squid access-log line"
    return run_lines(
        path,
        "squid",
        select(observed=False),
        describe,
        share={"host.name": "source.ip", "destination.domain": "url.domain"},
        url_host="url.domain",  # for every row with a url.full, host_of its host and port (_URL_COLUMNS)
        observed=select(observed=True),
        filled=filled,
        cut=None if common else squidfast.observed,  # the native layout's lines cut in C when built
    )
