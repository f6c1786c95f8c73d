"""The C cut of Squid native logs (:mod:`aptcatch.hunt.readers.squidfast`) against the SQL reader.

The C side must give, line by line, the state and the lazy read's columns the SQL gives, and a file it
refuses must still be read (by the SQL). Every comparison reads the same file twice: once as the
reader runs (C cut) and once with ``APTCATCH_NO_C`` (the SQL); the ranges are made tiny so that many
run in threads and lines sit at range borders.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from aptcatch.hunt.readers import squid, squidfast
from aptcatch.hunt.readers.duck import MAX_LINE, STATE, LineResult, query_lines

pytestmark = pytest.mark.skipif(not squidfast.available(), reason="the C extension _winfast is not built")

_GOOD = (
    "1286536309.450    212 192.168.1.5 TCP_MISS/200 1234 GET http://mal.example/a alice DIRECT/10.0.0.1"
    " text/html"
)

_PARTS = {
    "ts": [
        "1286536309.450",
        "1286536309",
        "12865363091",
        "128653630.5",
        "99999999",
        "128653630912",
        "1286536309.",
        "1286536309.4x",
        "x1286536309",
        "1286536309.450.1",
    ],
    "elapsed": ["212", "-1", "0", "-", "--1", "2x", "-12"],
    "client": ["192.168.1.5", "10.0.0.7", "-", "[::1]", "CLIENT.Example"],
    "code": [
        "TCP_MISS/200",
        "NONE/000",
        "TCP_DENIED/4033",
        "tcp_miss/200",
        "TCP_MISS/20",
        "TCP_MISS200",
        "/200",
        "TCP-MISS/200",
        "TCP_MISS/2x0",
    ],
    "size": ["1234", "0", "-", "12a"],
    "method": ["GET", "POST", "CONNECT", "connect", "-"],
    "url": [
        "http://mal.example/a",
        "HTTP://User:Pw@Mal.EXAMPLE:8080/p?q#f",
        "https://[2001:db8::1]:443/x",
        "http://[2001:db8::1",
        "http://h.example?x=1/2",
        "http://h.example#frag/x",
        "ftp://a@b@c.example/",
        "http://",
        "http://:80/",
        "http://[]/",
        "mal.example:443",
        "Mal.Example:8443",
        "host.example",
        ":443",
        "a:b:443",
        "https://x.example:443",
        "/relative/path",
        "-",
        "cache_object://localhost/info",
        "http://h.example/a://b",
        "x://",
        "http://@/",
        "a/b://C.example/",  # '://' after other text: the host is what follows it
        ":://h.example",
        "http://a@b?c@d.example/",  # '@' after '?': the user part ends at the host's end
        "http://h.example#x@y",
        "http://h.example/p@q",
        "http://u@:80/",
        "http://[A]b]/",
        "x://[AB::1]:1",
        "HTTP://H.EXAMPLE",
    ],
    "ident": ["alice", "-", "Bob"],
    "hier": [
        "DIRECT/10.0.0.1",
        "HIER_NONE/-",
        "FIRSTUP_PARENT/proxy.example",
        "DIRECT/",
        "direct/1.2.3.4",
        "DIRECT",
        "_/x",
        "DIRECT/a/b",
        "DIRECT/-x",
        "DIRECT/--",
    ],
    "type": ["text/html", "-", "", "application/x-foo extra fields", "a\tb"],
}
_SEPS = [" ", "  ", "\t", " \t ", "     "]
_ODD = [
    "",
    " ",
    "\t",
    "  \t  ",
    "#comment",
    "not a squid line",
    _GOOD[:40],
    " " + _GOOD,
    "\t" + _GOOD,
    _GOOD + " ",
    _GOOD + "\t",
    _GOOD.replace("alice", "aliçe"),
    _GOOD.replace("/a ", "/é "),
    _GOOD.replace("10.0.0.1", "10.0.0.1\x0b"),
    _GOOD.replace("alice", "a\x00b"),
    _GOOD + "\x0c",
    "caf\u00e9",
    _GOOD.replace("mal.example", "MAL.ÉXAMPLE"),
    _GOOD.replace("mal.example", "ΣΤΩΨ.Example"),  # UTF-8 bytes whose low 7 bits are all printable
    _GOOD.replace("DIRECT", "DİRECT"),
    _GOOD.replace(" GET ", " CONNECT ").replace("http://mal.example/a", "Ünï.example:443"),
    "\x7f" + _GOOD,
    _GOOD.replace("alice", "a\x7fb"),
]


def _line(rng: random.Random) -> str:
    if rng.random() < 0.1:
        return rng.choice(_ODD)
    fields = [rng.choice(v) if rng.random() < 0.3 else v[0] for v in _PARTS.values()]
    if rng.random() < 0.5:
        fields[6] = rng.choice(_PARTS["url"])
    if fields[-1] == "" or rng.random() < 0.2:
        fields.pop()
    if rng.random() < 0.05:
        fields.pop(rng.randrange(len(fields)))
    out = fields[0]
    for f in fields[1:]:
        out += (rng.choice(_SEPS) if rng.random() < 0.3 else " ") + f
    if rng.random() < 0.05:  # a byte anywhere: shapes broken or a slow line
        at = rng.randrange(len(out) + 1)
        out = out[:at] + rng.choice("0aZ_/-:.@[]#? \té\x0b") + out[at:]
    return out


def _write(path: Path, lines: list[str], end: str = "\n", nl: str = "\n") -> Path:
    path.write_bytes((nl.join(lines) + (nl if end == "\n" else end)).encode("utf-8"))
    return path


@pytest.fixture
def tiny_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(squidfast, "CHUNK", 700)


def _both(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[LineResult, LineResult]:
    fast = squid.read_squid(path)
    with monkeypatch.context() as m:
        m.setenv("APTCATCH_NO_C", "1")
        slow = squid.read_squid(path)
    return fast, slow


def _same(fast: LineResult, slow: LineResult) -> None:
    assert (fast.rows, fast.bad_lines, fast.errors) == (slow.rows, slow.bad_lines, slow.errors)
    if slow.ordinals is None:
        assert fast.ordinals is None
    else:
        assert fast.ordinals is not None and np.array_equal(fast.ordinals, slow.ordinals)
    assert fast.observed().equals(slow.observed())
    assert fast.table.equals(slow.table)  # the full table, by SQL at the C cut's line positions
    picked = list(range(0, fast.rows, 7))
    assert fast.original(picked) == slow.original(picked)


@pytest.mark.parametrize("nl", ["\n", "\r\n"])
def test_generated_lines_match_the_sql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_ranges: None, nl: str
) -> None:
    rng = random.Random(11)
    path = _write(tmp_path / "access.log", [_GOOD] + [_line(rng) for _ in range(3000)], nl=nl)
    select = squid._native(observed=True)
    cut = squidfast.observed(path, select)
    assert cut is not None, "a file of plain and slow lines must be cut in C"
    table, rejected, strict = cut
    assert rejected == [] and strict
    with monkeypatch.context() as m:
        m.setenv("APTCATCH_NO_C", "1")

        def run(con: object, lines: str) -> pa.Table:
            return con.sql(f"WITH l AS (SELECT line FROM {lines}) {select}").to_arrow_table()  # type: ignore[attr-defined]

        sql = query_lines(path, run)[0]
    state = table.column(STATE).to_numpy()
    assert np.array_equal(state, sql.column(STATE).to_numpy())
    assert len(set(state.tolist())) == 3, "the lines must hold events, skipped and bad lines"
    events = pa.array(np.flatnonzero(state == 0))
    for name in squidfast.COLUMNS:
        assert table.column(name).take(events).equals(sql.column(name).take(events)), name
    fast, slow = _both(path, monkeypatch)
    _same(fast, slow)
    assert fast.rows > 1000 and fast.bad_lines > 100


@pytest.mark.parametrize("seed", range(4))
def test_mutated_lines_match_the_sql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_ranges: None, seed: int
) -> None:
    rng = random.Random(seed)
    alphabet = "0123456789ABZ_az/-:.@[]#? \té\x0b\x00"
    lines = []
    for _ in range(600):
        chars = list(_GOOD if rng.random() < 0.5 else _line(rng))
        for _ in range(rng.randrange(4)):
            op, at = rng.random(), rng.randrange(len(chars) + 1)
            if op < 0.4:
                chars.insert(at, rng.choice(alphabet))
            elif op < 0.8 and at < len(chars):
                chars[at] = rng.choice(alphabet)
            elif at < len(chars):
                del chars[at]
        lines.append("".join(chars))
    fast, slow = _both(_write(tmp_path / "m.log", lines, end=rng.choice(["\n", ""])), monkeypatch)
    _same(fast, slow)


def test_an_odd_byte_at_every_position_of_a_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A line of printable ASCII is checked 8 bytes at a time: a control or non-ASCII byte (or a tab,
    a blank the fast split does not cut on) must send it down the byte-by-byte path wherever it sits,
    in a whole word or in the tail; lines of 0 to 24 bytes end at and around word borders."""
    monkeypatch.setattr(squidfast, "MAX_SLOW", 1.0)  # most of these lines are slow: cut them anyway
    lines = [_GOOD[:k] for k in range(25)]
    nine = _GOOD.rsplit(" ", 1)[0]  # no content type: the tail of the line is in hierarchy/peer
    for odd, base in itertools.product(("\t", "\x0b", "\x00", "\x1f", "\x7f", "é"), (_GOOD, nine)):
        lines += [base[:k] + odd + base[k:] for k in range(len(base) + 1)]
        lines += [base[:k] + odd for k in (7, 8, 15, 16)]
    path = _write(tmp_path / "odd.log", lines)
    assert squidfast.observed(path, squid._native(observed=True)) is not None
    fast, slow = _both(path, monkeypatch)
    _same(fast, slow)
    assert fast.rows > 100 and fast.bad_lines > 100


@pytest.mark.parametrize(
    "lines",
    [[""], ["", "", _GOOD], [_GOOD, "", ""], [_GOOD], ["   ", _GOOD, "\t"], ["x"] * 3 + [_GOOD]],
)
def test_blank_and_edge_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lines: list[str]) -> None:
    for end, nl in (("\n", "\n"), ("", "\n"), ("\n", "\r\n"), ("", "\r\n")):
        path = _write(tmp_path / "e.log", lines, end, nl)
        if path.stat().st_size:
            assert squidfast.observed(path, squid._native(observed=True)) is not None
        _same(*_both(path, monkeypatch))


@pytest.mark.parametrize(
    "data",
    [
        b"\xef\xbb\xbf" + _GOOD.encode() + b"\n",  # DuckDB drops the byte-order mark
        _GOOD.encode() + b"\r\n" + _GOOD.encode() + b"\n",  # a CRLF file with a bare LF
        _GOOD.encode() + b"\n" + _GOOD.encode() + b"\r\n",  # an LF file with a CRLF
        _GOOD.encode() + b"\r\n" + _GOOD.encode() + b"\r",  # a CRLF file ending in a bare CR
        _GOOD.encode() + b"\r\n" + _GOOD.encode() + b"\rx\r\n",  # a stray CR in a CRLF file
        _GOOD.encode() + b"\n" + _GOOD.encode() + b"\rx\n",  # a stray carriage return
        _GOOD.encode() + b"\n" + b"a\x01\x02\x03\x04b\n" + _GOOD.encode() + b"\n",  # the delimiter
        _GOOD.encode() + b"\n\xff\xfe\n" + _GOOD.encode() + b"\n",  # not UTF-8: DuckDB rejects the line
        _GOOD.encode() + b"\ncaf\xc3\xa9 \rx\n",  # a slow line that also has a carriage return
    ],
)
def test_files_the_c_cut_refuses_are_read_by_sql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes
) -> None:
    path = tmp_path / "r.log"
    path.write_bytes(data)
    assert squidfast.observed(path, squid._native(observed=True)) is None
    fast, slow = _both(path, monkeypatch)
    _same(fast, slow)


def test_a_line_of_duckdbs_maximum_size_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DuckDB rejects a line of ``max_line_size`` bytes already (not only a longer one); the C cut must
    leave such a file to the SQL, or the lines after it are numbered one off."""
    good, path = _GOOD.encode() + b"\n", tmp_path / "long.log"
    select = squid._native(observed=True)
    path.write_bytes(good + b"x" * (MAX_LINE - 1) + b"\n" + good)
    assert squidfast.observed(path, select) is not None
    path.write_bytes(good + b"x" * MAX_LINE + b"\n" + good)
    assert squidfast.observed(path, select) is None
    fast, slow = _both(path, monkeypatch)
    _same(fast, slow)
    assert (fast.rows, fast.bad_lines) == (2, 1)


def test_refused_when_not_built_or_switched_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "a.log", [_GOOD])
    select = squid._native(observed=True)
    assert squidfast.observed(path, select) is not None
    assert squidfast.observed(_write(tmp_path / "empty.log", [], end=""), select) is None
    with monkeypatch.context() as m:
        m.setenv("APTCATCH_NO_C", "1")
        assert squidfast.observed(path, select) is None
    with monkeypatch.context() as m:
        m.setattr(squidfast, "_winfast", None)
        assert squidfast.observed(path, select) is None
    with monkeypatch.context() as m:  # Windows: no pread/preadv, the SQL reads the file
        m.delattr(squidfast.os, "preadv")
        m.delattr(squidfast.os, "pread")
        assert squidfast.observed(path, select) is None
        assert squid.read_squid(path).rows == 1


def test_ranges_end_after_a_newline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"aaaa\nbb\n\ncccccccc\nd"
    path = tmp_path / "r.log"
    path.write_bytes(data)
    with path.open("rb") as fh:
        fd = fh.fileno()
        parts = squidfast.ranges(fd, len(data), chunk=3)
        assert parts is not None
        assert [data[a:b] for a, b in parts] == [b"aaaa\n", b"bb\n", b"\ncccccccc\n", b"d"]
        assert all(a[1] == b[0] for a, b in itertools.pairwise(parts))
        assert squidfast.ranges(fd, 0) == []
        monkeypatch.setattr(squidfast, "MAX_RANGE", 6)
        assert squidfast.ranges(fd, len(data), chunk=3) is None  # "\ncccccccc\n" would be one range
    long = b"x" * 200_000 + b"\n" + b"y" * 10 + b"\n"  # the newline is beyond the first block read
    path.write_bytes(long)
    monkeypatch.setattr(squidfast, "MAX_RANGE", 2**30)
    with path.open("rb") as fh:
        assert squidfast.ranges(fh.fileno(), len(long), chunk=5) == [(0, 200_001), (200_001, len(long))]


def test_the_c_function_checks_its_range() -> None:
    c = squidfast._winfast
    assert c is not None
    with pytest.raises(ValueError, match="range"):
        c.squid_native(b"abc\n", 2, 9, MAX_LINE)
    with pytest.raises(ValueError, match="range"):
        c.squid_native(b"abc\n", 3, 1, MAX_LINE)
    with pytest.raises(ValueError, match="max_line"):
        c.squid_native(b"abc\n", 0, 4, 0)
    data = _GOOD.encode() + b"\n\nx\n"
    status, lines, state, columns, slow = c.squid_native(data, 0, len(data), MAX_LINE)
    assert (status, lines, bytes(state), slow) == (0, 3, bytes([0, 1, 2]), None)
    assert [spec[:2] for spec in columns] == [(3, 2), (3, 2), (3, 2), (3, 2)]


def test_a_sweep_on_the_c_cut_finds_what_the_sql_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aptcatch.hunt.ioc import IndicatorSet, parse_ioc_lines, sweep

    rng = random.Random(3)
    path = _write(tmp_path / "s.log", [_line(rng) for _ in range(2000)])
    iocs = IndicatorSet()
    values = ["mal.example", "10.0.0.1", "2001:db8::1", "http://mal.example/a", "b@c.example"]
    parse_ioc_lines(values, "t", iocs)
    fast, slow = _both(path, monkeypatch)
    got = {(m.row_id, m.itype, m.value) for m in sweep([fast], iocs)}
    assert got == {(m.row_id, m.itype, m.value) for m in sweep([slow], iocs)}
    assert len(got) > 100


def test_a_file_of_mostly_slow_lines_is_left_to_the_sql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    select = squid._native(observed=True)
    accented = _GOOD.replace("alice", "élise")
    path = _write(tmp_path / "a.log", [accented] * 3 + [_GOOD])
    assert squidfast.observed(path, select) is None  # 3 of 4 lines would go to the SQL one by one
    fast, slow = _both(path, monkeypatch)
    _same(fast, slow)
    path = _write(tmp_path / "b.log", [accented] + [_GOOD] * 3)
    assert squidfast.observed(path, select) is not None
