"""Spark SQL text for the hunt: the readers' value rules (``text``, ``iso_from_epoch``, ``url_domain``) and
the IOC sweep's normalisations (``norm_url``, IPv4 to integer), written as SQL expressions.

They restate, in Spark SQL, the Python rules of ``aptcatch.hunt.readers.base`` and the DuckDB macros of
``aptcatch.hunt.ioc`` so that Spark evaluates them inside the JVM over the whole data set (a Python UDF
would ship every row to a Python worker). The tests compare them with the Python/DuckDB versions on the
same inputs. Regular expressions use ``\\z`` where DuckDB (RE2) writes ``$``: Java's ``$`` also matches
before a final line break, RE2's does not.
"""

from __future__ import annotations

TIME_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"
_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4_RE = f"^{_OCTET}(\\\\.{_OCTET}){{3}}\\\\z"


def lit(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def col(name: str) -> str:
    """A column reference (names hold dots: ``source.ip``)."""
    return "`" + name.replace("`", "``") + "`"


def stxt(e: str) -> str:
    """``text()`` of a string: empty, ``-`` and ``(empty)`` are unset (NULL stays NULL)."""
    return f"(CASE WHEN {e} IN ('', '-', '(empty)') THEN NULL ELSE {e} END)"


def vnull(e: str) -> str:
    """A variant, with JSON ``null`` as SQL NULL (``rec.get(k)`` is None for both)."""
    return f"IF(is_variant_null({e}), NULL, {e})"


def _pystr(e: str) -> str:
    """``str()`` of one list element (a variant): Python spells booleans ``True``/``False``."""
    return (
        f"(CASE WHEN schema_of_variant({e}) = 'BOOLEAN' THEN initcap(cast({e} AS STRING))"
        f" ELSE cast({e} AS STRING) END)"
    )


def vtxt(e: str, schema: str | None = None) -> str:
    """``text()`` of a JSON value (a variant, ``schema`` its ``schema_of_variant`` when already computed):
    lists joined with commas, integral floats as integers, objects as JSON."""
    s = schema or f"schema_of_variant({e})"
    return (
        f"(CASE WHEN {e} IS NULL OR is_variant_null({e}) THEN NULL"
        f" WHEN {s} LIKE 'ARRAY%'"
        f" THEN nullif(array_join(transform(cast({e} AS ARRAY<VARIANT>), x -> {_pystr('x')}), ','), '')"
        f" WHEN {s} IN ('DOUBLE', 'FLOAT') AND cast({e} AS DOUBLE) = floor(cast({e} AS DOUBLE))"
        f" AND abs(cast({e} AS DOUBLE)) < 9007199254740992"
        f" THEN cast(cast(cast({e} AS DOUBLE) AS BIGINT) AS STRING)"
        f" WHEN {s} LIKE 'OBJECT%' THEN to_json({e})"
        f" ELSE {stxt(f'cast({e} AS STRING)')} END)"
    )


def iso_from_epoch(raw: str, as_text: str) -> str:
    """Epoch seconds as ISO 8601 UTC with milliseconds (microseconds rounded half-even, then cut to ms,
    as ``datetime.fromtimestamp(...).isoformat(timespec='milliseconds')``); not a number: ``as_text``."""
    d = f"try_cast({raw} AS DOUBLE)"
    millis = (
        f"try_cast(floor({d}) AS BIGINT) * 1000"
        f" + try_cast(floor(bround(({d} - floor({d})) * 1000000, 0) / 1000) AS BIGINT)"
    )
    return (
        f"(CASE WHEN {raw} IS NULL THEN NULL"
        f" WHEN {d} IS NULL OR isnan({d}) OR abs({d}) > 1.0E13 THEN {as_text}"
        f" ELSE date_format(timestamp_millis({millis}), {lit(TIME_FORMAT)}) END)"
    )


def url_host(url: str) -> str:
    """The host part of a URL as ``url_domain`` cuts it (credentials dropped, port kept); evaluate once."""
    rest = f"substr({url}, instr({url}, '://') + 3)"
    return f"substring_index(regexp_extract({rest}, '^([^/?#]*)', 1), '@', -1)"


def url_domain(url: str, host: str) -> str:
    """``url_domain``: the host of a URL (``host`` = :func:`url_host` of it, as a column), no port,
    lower-case; NULL when it has none."""
    return (
        f"(CASE WHEN {url} IS NULL OR instr({url}, '://') = 0 THEN NULL"
        f" WHEN startswith({host}, '[') THEN"
        f" IF(instr({host}, ']') > 0, lower(substr({host}, 2, instr({host}, ']') - 2)), NULL)"
        f" ELSE nullif(lower(substring_index({host}, ':', 1)), '') END)"
    )


def is_ipv4(e: str) -> str:
    return f"({e} RLIKE '{IPV4_RE}')"


def ip2int(e: str) -> str:
    """A dotted IPv4 (already checked) as a BIGINT."""
    parts = [f"cast(split_part({e}, '.', {i}) AS BIGINT)" for i in range(1, 5)]
    return f"(shiftleft({parts[0]}, 24) + shiftleft({parts[1]}, 16) + shiftleft({parts[2]}, 8) + {parts[3]})"


URL_RE = "^[A-Za-z][A-Za-z0-9+.-]*://"  # ioc.py sweeps URL values with a scheme only


def url_parts(u: str) -> tuple[str, str]:
    """ioc.py's URL cut, first half: the lower-case scheme and the raw ``host:port`` (credentials kept)."""
    hostport = (
        f"split_part(split_part(split_part(substr({u}, instr({u}, '://') + 3), '/', 1), '?', 1), '#', 1)"
    )
    return f"lower(split_part({u}, '://', 1))", hostport


def url_rest(u: str, hostport: str) -> str:
    """Second half: what follows ``host:port`` (``hostport`` the raw column of :func:`url_parts`)."""
    return f"substr({u}, instr({u}, '://') + 3 + length({hostport}))"


def norm_url(scheme: str, hp: str, rest: str) -> str:
    """ioc.py's ``norm_url_parts`` (``hp`` lower-case): ``:80``/``:443`` dropped for http/https, empty
    path ``/``."""
    return (
        f"concat({scheme}, '://',"
        f" CASE WHEN ({scheme} = 'http' AND endswith({hp}, ':80'))"
        f" OR ({scheme} = 'https' AND endswith({hp}, ':443'))"
        f" THEN regexp_replace({hp}, ':[0-9]+\\\\z', '') ELSE {hp} END,"
        f" CASE WHEN {rest} = '' OR startswith({rest}, '?') OR startswith({rest}, '#')"
        f" THEN concat('/', {rest}) ELSE {rest} END)"
    )


def domain_labels(observed: str) -> str:
    """The labels of ``lower(rtrim(value, '.'))``; evaluate once, then :func:`domain_suffixes`."""
    return f"split(lower(trim(TRAILING '.' FROM {observed})), '\\\\.', -1)"


def domain_suffixes(labels: str) -> str:
    """The label suffixes with two labels or more, the whole name first."""
    return (
        f"IF(size({labels}) < 2, array(),"
        f" transform(sequence(1, size({labels}) - 1),"
        f" i -> array_join(slice({labels}, i, size({labels}) - i + 1), '.')))"
    )
