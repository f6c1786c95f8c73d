"""The C-accelerated Windows event batch (``winfast.FastBatch``) gives exactly what the pure-Python
``winsegments.Batch`` gives: same tables, segments (in the same order), originals, damage counts and
error texts, on hand-made shapes, JSON lines, many-file batches and seeded random mutations."""

from __future__ import annotations

import itertools
import json
import os
import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from aptcatch.hunt.readers import evtx as evtx_reader
from aptcatch.hunt.readers import winfast
from aptcatch.hunt.readers.base import ReadResult
from aptcatch.hunt.readers.windows import _MAP, ingest_json_lines, new_batch, raw_fields
from aptcatch.hunt.readers.winsegments import Batch, Mapping, string_array, text_value
from tests.hunt.test_readers_winsegments import SYSMON, _cases, _event, _sysmon, _system

needs_c = pytest.mark.skipif(not winfast.available(), reason="the _winfast extension is not built here")
USER_MAP = (("url.full", ("Image",)), ("source.port", ("EventRecordID", "Version")), *_MAP)


def test_extension_is_built_in_this_environment() -> None:
    """CI builds it (editable install); only APTCATCH_NO_C turns it off."""
    if os.environ.get("APTCATCH_NO_C"):
        pytest.skip("APTCATCH_NO_C is set")
    from aptcatch.hunt.readers import _winfast

    assert winfast.available() and isinstance(new_batch(), winfast.FastBatch)
    assert _winfast.Batch is not None


def test_no_c_gives_the_python_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APTCATCH_NO_C", "1")
    batch = new_batch()
    assert type(batch) is Batch


def assert_identical(old: Sequence[ReadResult], new: Sequence[ReadResult]) -> None:
    """Every file: path, format, damage, normalised table, originals, segments in the same order."""
    assert len(old) == len(new)
    for a, b in zip(old, new, strict=True):
        assert (a.path, a.format, a.bad_lines, a.errors) == (b.path, b.format, b.bad_lines, b.errors)
        assert a.table.schema == b.table.schema
        assert a.table.equals(b.table), a.path
        assert list(a.originals or ()) == list(b.originals or ())
        assert a.segments is not None and b.segments is not None
        assert [s.constants for s in a.segments] == [s.constants for s in b.segments], a.path
        for x, y in zip(a.segments, b.segments, strict=True):
            assert x.table.schema == y.table.schema, (a.path, x.constants)
            assert x.table.equals(y.table), (a.path, x.constants)


Both = tuple[list[ReadResult], winfast.FastBatch]


def _both(files: Sequence[Sequence[Any]], mapping: Mapping = _MAP) -> Both:
    """The texts of each file read by both batches (one batch of all files); the results compared."""
    results = []
    fast = winfast.FastBatch(mapping, raw_fields)
    for batch in (Batch(mapping, raw_fields), fast):
        for i, texts in enumerate(files):
            batch.ingest(batch.open(Path(f"f{i}.json"), "windows-json"), iter(texts))
        results.append(batch.finish().results())
    assert_identical(results[0], results[1])
    return results[1], fast


@needs_c
@pytest.mark.parametrize("mapping", [_MAP, USER_MAP])
def test_the_reference_cases(mapping: Mapping) -> None:
    files = _cases()
    _both(files, mapping)
    for texts in files:  # each file alone, too
        _both([texts], mapping)


def _odd_shapes() -> list[str]:
    """Texts the C parser must get right or hand back: escapes, numbers, shapes at its edges."""
    plain = json.loads(_sysmon(1))
    out = [
        _sysmon(1, Image='C:\\x\té "q" /\x7f', CommandLine="caf\u00e9 \u4e2d \U0001f600"),
        _sysmon(2, pid=-(2**63)),
        _sysmon(3, pid=2**63 - 1),
        _sysmon(4, pid=2**63),
        _sysmon(5, pid=-(2**63) - 1),
        _sysmon(6, pid=0, User=""),
        _sysmon(7, User="(empty)", Image="-"),
        _sysmon(8, Image=[], CommandLine=[None], User=[""]),
        _sysmon(9, Image=["a", ["b", [None, 1]], True, {"#text": "t"}]),
        _sysmon(10, Image={"#text": None}, User={"#text": "-"}, CommandLine={"#attributes": {"a": 1}}),
        _sysmon(11, Image={"#text": [1, 2]}, Hashes=["MD5=AB", "SHA1=CD"]),
        _sysmon(12, Image={"a": {"b": 1}}),
        _sysmon(13, **{"#attributes": {"Name": "x"}, "Channel": {"x": 1}, "EventID": [1], "@row": {}}),
        _sysmon(14, **{"@timestamp": "2024-01-01 00:00:00", "UtcTime": "-"}),
        json.dumps(plain).replace(": ", ":\t\n ").replace(", ", " ,\r\n"),  # every kind of blank
        " " + json.dumps(plain) + " \n",
        json.dumps(plain) + "x",
        json.dumps(plain)[:-1],
        json.dumps(plain).replace('"Image"', '"Im\\u0061ge"'),  # an escaped name
        json.dumps(plain).replace('"Image": ', '"Image": "dup", "Image": '),  # a duplicate key
        json.dumps(plain).replace("1780", "1780.0"),
        json.dumps(plain).replace("1780", "-0"),
        json.dumps(plain).replace("1780", "01780"),
        json.dumps(plain).replace("1780", "1e3"),
        json.dumps(plain).replace("1780", "99999999999999999999999"),
        json.dumps(plain).replace('"pc1"', '"\\ud83d\\ude00"'),
        json.dumps(plain).replace('"pc1"', '"\\ud800"'),
        json.dumps(plain).replace('"pc1"', '"\\x"'),
        json.dumps(plain).replace('"pc1"', '"a\x01b"'),
        json.dumps(plain).replace('"pc1"', '"\ud800"', 1),  # a lone surrogate in the str itself
        json.dumps(plain).replace('"pc1"', "NaN"),
        json.dumps(plain).replace('"pc1"', "[" * 40 + "]" * 40),  # deeper than the C parser goes
        json.dumps(plain).replace('"pc1"', "[" * 20 + "1" + "]" * 20),
        json.dumps({"Event": {"System": {}, "EventData": {}}}),
        json.dumps({"Event": {"System": {}, "EventData": None, "UserData": None, "X": None}}),
        json.dumps({"Event": {"System": _system(1, 1), "EventData": {"A": 1}, "Other": {"B": 2}}}),
        json.dumps({"Event": {"System": _system(1, 1), "EventData": {"A": 1}, "O": 1, "P": 2}}),
        json.dumps({"Event": {"System": _system(1, 1), "EventData": []}}),
        *(
            json.dumps({"Event": {"#attributes": {"xmlns": "e"}, "System": _system(104, 1), **sections}})
            for sections in (
                {"UserData": {"Cleared": {"#attributes": {"xmlns": "u"}, "SubjectUserName": "bob", "N": 1}}},
                {"UserData": {"#attributes": {"a": 1}, "A": {"B": 1}, "C": 2}},
                {"UserData": {"A": 1, "C": [2, None]}},
                {"UserData": {"Inner": "text"}},
                {"UserData": {"#attributes": {"a": 1}}},
                {"UserData": {}},
                {"UserData": "text", "EventData": None},
                {"UserData": {"Inner": {"A": {"#text": "t"}}}},
                {"UserData": {"Inner": {"A": 1}}, "EventData": {"A": 2}},
                {"EventData": {"A": 1}, "RenderingInfo": {"Message": "m", "Keywords": {"Keyword": "k"}}},
                {"EventData": {"A": 1}, "RenderingInfo": {"Message": "m", "Level": "-"}},
                {"EventData": {"A": 1, "#attributes": {"x": 1}}, "Other": {"B": None}},
                {"Extra": "x", "EventData": None},
                {"Extra": [1, None], "More": True},
                {"ProcessingErrorData": {"ErrorCode": 15005, "DataItemName": "x", "EventPayload": "00"}},
            )
        ),
        json.dumps({"Event": {"System": _system(1, 1)}}),
        json.dumps({"Event": {"System": [], "EventData": {}}}),
        json.dumps({"Event": []}),
        json.dumps({"Event": {"System": _system(1, 1), "EventData": {"A": 1}}, "Other": [1.5]}),
        json.dumps({"Event": {"System": _system(1, 1), "EventData": {"A": 1}}, "Other": 1.5}),
        json.dumps({"Event": {"System": _system(1, 1), "EventData": {"A": 1}}, "Event2": {"a": "b"}}),
        _event(_system(1, 1, Provider={"#attributes": [1]}), {"A": 1}),
        _event(_system(1, 1, Provider={"#attributes": {"Guid": "g"}}), {"A": 1}),
        _event(_system(1, 1, Provider="p", EventID={"#attributes": {"Q": 1}}), {"A": 1}),
        _event(_system({"#text": None}, 1), {"A": 1}),
        _event(_system({"#text": [1]}, 1), {"A": 1}),
        _event(_system(1, 1, Channel=True), {"A": 1}),
        _event(_system(1, 1, Channel=1), {"A": 1}),
        _event(_system(1, 1, Channel=""), {"A": 1}),
        _event(_system(1, 1, Channel="-"), {"A": 1}),
        _event(_system(1, 1, Security={}), {"A": 1}),
        _event(_system(1, 1, Security={"#attributes": {}}), {"A": 1}),
        _event(_system(1, 1, Security={"#attributes": "x"}), {"A": 1}),
        _event(_system(1, 1, Security={"#attributes": {"xmlns": "n", "xmlnsX": "m", "U": None}}), {"A": 1}),
        _event(_system(1, 1, Security={"#attributes": {"xmlns": "n", "U": 1}, "#text": "t"}), {"A": 1}),
        _event(_system(1, 1, Security={"#text": "t", "#attributes": {"U": [1, None]}}), {"A": 1}),
        _event(_system(1, 1, Security={"#text": "t"}), {"A": 1}),
        _event(_system(1, 1, Security={"Child": {"#text": "c"}}), {"A": 1}),
        _event(_system(1, 1, Security={"#attributes": {"U": 1}, "#text": {"#text": "x"}}), {"A": 1}),
        _event(_system(1, 1, Computer=["a", "b"], Version=[]), {"A": 1}),
        _event(_system(1, 1, Computer=True, Version=False), {"Computer": "data wins", "Channel": "no"}),
        _event(_system(1, 1, **{"#attributes": {"a": 1}}), {"A": 1}),
        _event(_system(1, 1, **{"#attributes": None, "@timestamp": "2024-05-01 10:00:00"}), {"A": 1}),
        _event(_system(1, 1), {"Hash": "MD5=AA", "Hashes": None}),
        _event(_system(1, 1), {"Hash": "MD5=AA", "Hashes": "SHA256=BB"}),
        json.dumps({"EventID": 4688, "Channel": "Security", "NewProcessName": "x", "Hostname": "h"}),
        json.dumps({"EventData": {"Image": "x"}, "SourceName": "s", "EventTime": "2024-01-01 10:00:00"}),
        json.dumps({"winlog": {"channel": SYSMON, "event_id": 1, "event_data": {"Image": 2.5}}}),
        "",
        "   ",
        "\ufeff",
        "null",
        "[]",
        "{}",
        "1",
        '"text"',
    ]
    return out


@needs_c
@pytest.mark.parametrize("mapping", [_MAP, USER_MAP])
def test_odd_shapes(mapping: Mapping) -> None:
    odd = _odd_shapes()
    _both([odd], mapping)
    _both([odd[::-1], odd, _cases()[0]], mapping)
    _both([[t] for t in odd], mapping)  # each text a file of its own, one batch


@needs_c
def test_keys_python_takes_as_equal_share_a_group() -> None:
    """1 == True in a Python key: the group (and its constants) follow the first event of the file,
    and the plan cache is shared by the batch; the C signature tells them apart, the key does not."""
    one = _event(_system(1, 1), {"Image": "x"})
    true = _event(_system(True, 2), {"Image": "y"})
    text = _event(_system("1", 3), {"Image": "z"})
    res, _ = _both([[true, one, text], [one, true], [true], [text, one]])
    assert [s.constants["EventID"] for s in res[0].segments or ()] == ["true", "1"]


@needs_c
def test_windows_json_lines(tmp_path: Path) -> None:
    lines = [
        *_cases()[1],
        "",
        "{broken",
        json.dumps({"winlog": {"channel": "Security", "event_id": 4624, "event_data": {"IpAddress": "1.2"}}}),
        json.dumps(
            {"EventID": 1, "Channel": SYSMON, "Image": "a.exe", "Hostname": "h", "EventData": {"X": 1}}
        ),
        "\ufeff" + _sysmon(3),
        _sysmon(4) + "\r",
        "[1]",
        *_cases()[0],
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"\xff\xfe" + _sysmon(5).encode() + b"\n\x00\n" + _sysmon(6).encode()[:-3] + b"\n")
    results = []
    for batch in (Batch(_MAP, raw_fields), winfast.FastBatch(_MAP, raw_fields)):
        ingest_json_lines(batch, path)
        ingest_json_lines(batch, bad)
        results.append(batch.finish().results())
    assert_identical(*results)
    assert results[1][0].bad_lines == 2 and results[1][0].rows == len(lines) - 3  # blank, broken, [1]


@needs_c
def test_a_failing_iterator_keeps_what_it_gave() -> None:
    """A damaged EVTX record raises from the parser's iterator: both batches keep the events before
    it and do not count this call's events (the reader then goes on with a new call)."""

    def texts() -> Iterator[str]:
        yield from _cases()[0][:3]
        raise RuntimeError("damaged record")

    results, counts = [], []
    for batch in (Batch(_MAP, raw_fields), winfast.FastBatch(_MAP, raw_fields)):
        f = batch.open(Path("x.evtx"), "evtx")
        with pytest.raises(RuntimeError):
            batch.ingest(f, texts())
        batch.ingest(f, iter(_cases()[0][3:5]))
        counts.append(batch.events)
        results.append(batch.finish().results())
    assert_identical(*results)
    assert counts == [2, 2] and results[1][0].rows == 5


@needs_c
def test_files_ingested_in_turns() -> None:
    """Events of two files ingested alternately: each file's rows, groups and originals as if in one go
    (the originals are then copied into file order instead of handed over as ingested)."""
    a, b = _cases()[1], _cases()[0]
    results = []
    for batch in (Batch(_MAP, raw_fields), winfast.FastBatch(_MAP, raw_fields)):
        fa, fb = batch.open(Path("a.evtx"), "evtx"), batch.open(Path("b.evtx"), "evtx")
        batch.ingest(fa, iter(a[:5]))
        batch.ingest(fb, iter(b[:3]))
        batch.ingest(fa, iter(a[5:]))
        batch.ingest(fb, iter(b[3:]))
        results.append(batch.finish().results())
    assert_identical(*results)
    assert list(results[1][0].originals or ()) == a and list(results[1][1].originals or ()) == b


@needs_c
def test_empty_batches() -> None:
    _both([])
    _both([[], [""], ["{bad"]])


def test_text_value_equals_the_column_inference() -> None:
    """string_array infers a type per column and casts; the C batch writes each value's text_value.
    They agree for every mix of the values the Python path can hand over."""
    values: list[Any] = [
        None,
        "s",
        "",
        "-",
        0,
        1,
        -3,
        2**63 - 1,
        2**63,
        2**64 - 1,
        -(2**63),
        True,
        False,
        1.0,
        2.5,
        1e15,
        1.8446744073709552e19,
        -0.0,
        [],
        [None],
        [1, True, None, "a"],
        [[1, 2], ["x"]],
        {"#text": 1},
        {"#text": "-"},
        {"a": 1},
        {"#attributes": {"b": True}},
    ]
    for size in (1, 2, 3):
        for mix in itertools.combinations(values, size):
            column = list(mix) * 2
            assert string_array(column).to_pylist() == [text_value(v) for v in column], mix


# ---------------------------------------------------------------- differential fuzzing


class _Pairs(list[tuple[str, Any]]):
    """An object written member by member (so it can repeat a key)."""


class _Raw(str):
    """A token written as it is (numbers orjson reads as floats, bad literals)."""


def _dump(value: Any, rng: random.Random) -> str:
    if isinstance(value, _Raw):
        return str(value)
    if isinstance(value, _Pairs):
        return "{" + ",".join(f"{_dump(k, rng)}:{_dump(v, rng)}" for k, v in value) + "}"
    if isinstance(value, dict):
        return _dump(_Pairs(value.items()), rng)
    if isinstance(value, list):
        return "[" + ", ".join(_dump(v, rng) for v in value) + "]"
    return json.dumps(value, ensure_ascii=rng.random() < 0.5)


_DATA_KEYS = ["CommandLine", "TargetUserName", "#attributes", "Channel", "@row", "UtcTime"]
_NUMBERS = ["1.0", "-0", "1e2", "2.5E-3", "18446744073709551616", "-9223372036854775809", "0", "-1", "007"]
_STRINGS = ["", "-", "(empty)", "é", "中文", 'a"b\\c\n', "\x00", "\U0001f600", " x ", "C:\\Windows"]


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(12 if depth < 3 else 7)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice(_STRINGS)
    if kind == 2:
        return rng.choice([0, 1, -5, 2**63 - 1, 2**63, 2**64 - 1, -(2**63), 10**15])
    if kind == 3:
        return rng.random() < 0.5
    if kind == 4:
        return _Raw(rng.choice(_NUMBERS))
    if kind in (5, 6):
        return f"v{rng.randrange(5)}"
    if kind in (7, 8):
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == 9:
        return {"#text": _random_value(rng, depth + 1)}
    if kind == 10:
        return {"#attributes": {"a": _random_value(rng, depth + 1)}, "#text": _random_value(rng, depth + 1)}
    return {rng.choice(["x", "#text", "#attributes"]): _random_value(rng, depth + 1)}


def _random_event(rng: random.Random) -> Any:
    """A real-shaped event, its values and layout varied."""
    system: dict[str, Any] = _system(rng.choice([1, 1, 3, "1", True, 4624, None]), rng.randrange(100))
    if rng.random() < 0.3:
        system["Channel"] = rng.choice([SYSMON, "Security", None, "", 1])
    for _ in range(rng.randrange(3)):
        key = rng.choice([*system, "Extra", "#attributes", "@timestamp"])
        system[key] = _random_value(rng)
    data: Any = {
        "Image": rng.choice(["C:\\a.exe", "-", ""]),
        "User": rng.choice(["u", "-", None]),
        "ProcessId": rng.randrange(3),
        "Hashes": "SHA1=AA,MD5=BB",
    }
    for _ in range(rng.randrange(4)):
        key = rng.choice(
            [*data, "CommandLine", "TargetUserName", "#attributes", "Channel", "@row", "UtcTime"][:12]
        )
        data[key] = _random_value(rng)
    if rng.random() < 0.15:
        data = _Pairs([*data.items(), (rng.choice(list(data)), _random_value(rng))])  # a repeated key
    event: dict[str, Any] = {"#attributes": {"xmlns": "x"}, "System": system, "EventData": data}
    roll = rng.random()
    if roll < 0.05:
        event["UserData"] = {"Inner": {"A": _random_value(rng)}}
    elif roll < 0.1:
        event["EventData"] = None
    elif roll < 0.13:
        event = {"System": system}
    if rng.random() < 0.05:
        return {"winlog": {"channel": SYSMON, "event_id": 1, "event_data": data}}
    return {"Event": event}


def _mutate(text: str, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.08:
        return text[: rng.randrange(len(text) + 1)]
    if roll < 0.16:
        i = rng.randrange(len(text))
        return text[:i] + rng.choice('"\\{}[],: 0-e.xé\ud800\x00\n\t') + text[i + 1 :]
    if roll < 0.22:
        i = rng.randrange(len(text))
        escape = rng.choice(["\\u00e9", "\\ud83d\\ude00", "\\ud800", "\\n", "\\/", '\\"', "\\u0000", "\\q"])
        return text[:i] + escape + text[i:]
    if roll < 0.25:
        return "[" * 35 + text + "]" * 35
    return text


def _fuzz_files(seed: int, count: int) -> list[list[str]]:
    rng = random.Random(seed)
    texts = [_mutate(_dump(_random_event(rng), rng), rng) for _ in range(count)]
    files: list[list[str]] = []
    while texts:
        size = rng.randrange(1, 60)
        files.append(texts[:size])
        texts = texts[size:]
    return files


@needs_c
@pytest.mark.parametrize("seed", range(4))
def test_differential_fuzz(seed: int) -> None:
    files = _fuzz_files(seed, 1500)
    _, fast = _both(files, USER_MAP if seed % 2 else _MAP)
    on_c, handed_back = fast.stats()
    assert on_c > 0 and handed_back > 0  # both paths exercised


@needs_c
@pytest.mark.corpus
def test_evtx_attack_samples_read_both_ways(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = sorted((shared_data / "evtx-attack-samples").rglob("*.evtx"))
    regression = sorted((shared_data / "sigma" / "regression_data").rglob("*.evtx"))
    assert len(paths) > 200 and len(regression) > 200
    for name, group in (("evtx-attack-samples", paths), ("sigma regression_data", regression)):
        results = []
        fast = winfast.FastBatch(_MAP, raw_fields)
        for batch in (Batch(_MAP, raw_fields), fast):
            for p in group:
                evtx_reader.read_into(batch, p)
            results.append(batch.finish().results())
        assert_identical(*results)
        on_c, handed_back = fast.stats()
        with capsys.disabled():
            print(f"\n{name}: {handed_back} of {on_c + handed_back} texts on the Python path")
        assert handed_back < 0.05 * (on_c + handed_back)


_HASH_TOKENS = [
    "md5",
    "MD5",
    "Md5",
    "sha1",
    "SHA1",
    "sha256",
    "SHA256",
    "Sha256",
    "sha2",
    "IMPHASH",
    "=",
    "=",
]
_HASH_TOKENS += [
    ",",
    ",",
    " ",
    "\t",
    "\n",
    "\x0b",
    "\x0c",
    "\r",
    "AB",
    "cd",
    "0",
    "9",
    "x",
    "MD55",
    ", ",
    "=,",
]


def _hash_list(rng: random.Random, extra: Sequence[str] = ()) -> str:
    tokens = [*_HASH_TOKENS, *extra]
    return "".join(rng.choice(tokens) for _ in range(rng.randrange(12)))


@needs_c
@pytest.mark.parametrize("extra", [(), ("ſ", "K", "é", "MD\u0035")])
def test_hash_lists_taken_apart_as_the_regex_does(extra: Sequence[str]) -> None:
    """The C batch takes md5/sha1/sha256 out of all-ASCII hash lists itself (RE2's pattern rebuilt);
    a batch with a non-ASCII list goes through Arrow's regex. Both equal the reference."""
    rng = random.Random(7)
    lists = [_hash_list(rng, extra) for _ in range(3000)]
    lists += [
        "SHA1=AA,MD5=0BCD,SHA256=ABCDEF",
        "md5 = a b ,sha1=",
        "x,MD5=\x0b,MD5=q",
        ",md5=1",
        "MD5=  ,md5=2",
    ]
    if extra:  # RE2 folds ſ to s; Arrow lower-cases non-ASCII letters
        lists += ["ſha1=AB", "SHA1=ÀB", "x,ſHA256=Cd", "md5=ÉÀ"]
    files = [
        [_sysmon(i, Hashes=h) for i, h in enumerate(lists[k : k + 500])] for k in range(0, len(lists), 500)
    ]
    res, _ = _both(files)
    md5 = [v for r in res for v in r.table.column("file.hash.md5").to_pylist()]
    assert "0bcd" in md5 and "a b" in md5 and "\x0b" in md5 and "2" in md5
