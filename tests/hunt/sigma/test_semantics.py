"""Sigma semantics on both evaluators: case, Unicode, ``|cased``, null-safe negation, blind rules, keywords.

"Unicode-aware" case-insensitivity means here: both sides are lowered with Unicode's *simple*
per-code-point lowercase mapping (what DuckDB ``lower`` and Arrow ``utf8_lower`` do, and what
:func:`aptcatch.hunt.sigma.ir.lower` does for rule values). That is not case folding: ``ẞ`` and ``ß``
match, ``SS`` and ``ß`` do not; ``Σ`` lowers to ``σ`` wherever it stands, so it matches ``σ`` but not a
written final ``ς``; Turkish ``İ`` lowers to ``i`` and dotless ``ı`` stays itself (no locale).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from aptcatch.hunt.sigma import ir
from aptcatch.hunt.sigma.evaluate import DuckDBSigma
from aptcatch.hunt.sigma.vector import VectorSigma

from .conftest import Hunter, win_event

PROC = "C:\\Windows\\System32\\cmd.exe"


def test_matching_is_case_insensitive_by_default(hunter: Hunter) -> None:
    values = [{"CommandLine": "cmd /c WhoAmI /all"}, {"CommandLine": "WHOAMI"}, {"CommandLine": "who am i"}]
    assert hunter.one("sel:\n  CommandLine|contains: whoami\ncondition: sel", values) == {0, 1}
    assert hunter.one("sel:\n  CommandLine: 'whoami'\ncondition: sel", values) == {1}


UNICODE = [
    # (rule value, event value, matches?)
    ("ПРИВЕТ", "привет", True),  # Cyrillic
    ("привет", "ПРИВЕТ", True),
    ("ΣΟΦΙΑ", "σοφια", True),  # Greek
    ("ΟΔΟΣ", "ΟΔΟΣ", True),  # a final capital sigma matches itself …
    ("ΟΔΟΣ", "οδοσ", True),
    ("ΟΔΟΣ", "οδος", False),  # … but not a written final ς: lower-casing is not case folding
    ("STRAẞE", "straße", True),  # German capital sharp s lowers to ß
    ("Straße", "STRAẞE", True),
    ("STRASSE", "straße", False),  # no folding of ß to ss
    ("İSTANBUL", "istanbul", True),  # Turkish dotted capital I lowers to plain i
    ("İstanbul", "İSTANBUL", True),
    ("ISTANBUL", "ıstanbul", False),  # dotless ı is its own letter (no Turkish locale)
    ("ÀÉÎÕÜ", "àéîõü", True),
    ("ǄEMAL", "ǆemal", True),  # title/upper digraphs
]


@pytest.mark.parametrize(("rule", "event", "expected"), UNICODE)
def test_unicode_case_insensitivity(hunter: Hunter, rule: str, event: str, expected: bool) -> None:
    det = f"sel:\n  CommandLine|contains: '{rule}'\nequal:\n  Description: '{rule}'\ncondition: sel or equal"
    got = hunter.one(det, [{"CommandLine": f"x {event} y"}, {"Description": event}])
    assert got == ({0, 1} if expected else set())


def test_lowering_agrees_between_python_duckdb_and_arrow() -> None:
    """The rule side (ir.lower) and both data sides lower every tested character alike."""
    texts = sorted({t for r, e, _ in UNICODE for t in (r, e)} | {"ΣΣ Σ", "İı Iİ", "ẞß"})
    ours = [ir.lower(t) for t in texts]
    arrow = pc.utf8_lower(pa.array(texts)).to_pylist()
    duck = [duckdb.execute("SELECT lower(?)", [t]).fetchone()[0] for t in texts]  # type: ignore[index]
    assert ours == arrow == duck
    assert ir.lower("ΟΔΟΣ") == "οδοσ" != "ΟΔΟΣ".lower()  # Python's own lower differs (final sigma)
    assert ir.lower("İ") == "i" != "İ".lower()  # … and here (i + combining dot)


def test_cased_is_honoured(hunter: Hunter) -> None:
    values = [{"CommandLine": "run WhoAmI"}, {"CommandLine": "run whoami"}, {"CommandLine": "WHOAMI"}]
    assert hunter.one("sel:\n  CommandLine|cased|contains: WhoAmI\ncondition: sel", values) == {0}
    assert hunter.one("sel:\n  CommandLine|cased: WHOAMI\ncondition: sel", values) == {2}
    assert hunter.one("sel:\n  CommandLine|cased|endswith: 'ami'\ncondition: sel", values) == {1}
    assert hunter.one("sel:\n  CommandLine|cased|startswith: 'ПРИ'\ncondition: sel", values) == set()


def test_negated_filter_on_missing_field_keeps_the_event(hunter: Hunter) -> None:
    det = """
    sel:
      Image|endswith: '\\cmd.exe'
    filter:
      ParentImage|endswith: '\\explorer.exe'
    condition: sel and not filter
    """
    values = [
        {"Image": PROC, "ParentImage": "C:\\Windows\\explorer.exe"},  # filtered out
        {"Image": PROC, "ParentImage": "C:\\Windows\\winword.exe"},
        {"Image": PROC},  # ParentImage missing: the filter is false, so the event stays
        {"Image": "C:\\Windows\\notepad.exe"},
    ]
    assert hunter.one(det, values) == {1, 2}


def test_negated_filter_on_field_missing_from_the_whole_log(hunter: Hunter) -> None:
    det = """
    sel:
      Image|endswith: '\\cmd.exe'
    filter_a:
      NoSuchField: 'x'
    filter_b:
      NoSuchField|contains: 'y'
    condition: sel and not 1 of filter_*
    """
    values = [{"Image": PROC}, {"Image": "C:\\x\\CMD.EXE"}, {"Image": "C:\\x\\other.exe"}]
    assert hunter.one(det, values) == {0, 1}


def test_not_of_a_conjunction_with_a_missing_field(hunter: Hunter) -> None:
    det = """
    sel:
      Image|endswith: '\\cmd.exe'
    filter:
      ParentImage|endswith: '\\explorer.exe'
      User: 'alice'
    condition: sel and not filter
    """
    values = [
        {"Image": PROC, "ParentImage": "C:\\explorer.exe", "User": "alice"},
        {"Image": PROC, "ParentImage": "C:\\explorer.exe"},  # User missing: filter false
        {"Image": PROC, "User": "alice"},
    ]
    assert hunter.one(det, values) == {1, 2}


def test_rule_on_a_field_the_log_lacks_is_reported_blind(hunter: Hunter) -> None:
    rules = {
        "blind": "sel:\n  TargetObject|contains: '\\Run\\'\ncondition: sel",
        "half": "sel:\n  Image|endswith: '.exe'\n  Signed: 'false'\ncondition: sel",
        "seen": "sel:\n  Image|endswith: '.exe'\ncondition: sel",
        "negated": "sel:\n  Image|endswith: '.exe'\nfilter:\n  Hashes: 'x'\ncondition: sel and not filter",
    }
    events = [win_event({"Image": PROC}, record=1), win_event({"Image": "C:\\a.exe"}, record=2)]
    hits, run, rs = hunter.run(rules, events)
    index = {r.title: i for i, r in enumerate(rs.rules)}
    assert hits == {"blind": set(), "half": set(), "seen": {0, 1}, "negated": {0, 1}}
    assert run.blind == {
        index["blind"]: frozenset({"TargetObject"}),
        index["half"]: frozenset({"Signed"}),
        index["negated"]: frozenset({"Hashes"}),
    }
    assert set(index.values()) <= run.applied


def test_field_present_in_one_file_is_not_blind(tmp_path: Path, engine: str, reader: str) -> None:
    """Blind means missing from every segment the rule applied to, across all files of the run."""
    h = Hunter(tmp_path, engine, reader)
    rs = h.rules({"t": "sel:\n  TargetObject|contains: 'run'\ncondition: sel"})
    one = h.read([win_event({"Image": PROC})], "a.json")
    two = h.read([win_event({"TargetObject": "HKLM\\Run\\x"}, record=2)], "b.json")
    cls = VectorSigma if engine == "vector" else DuckDBSigma
    run = cls(rs.rules).run([one, two])
    assert run.blind == {}
    assert [(x.file_id, x.row) for x in run.hits] == [(1, 0)]
    assert cls(rs.rules).run([one]).blind == {0: frozenset({"TargetObject"})}


def test_keywords_match_any_field(hunter: Hunter) -> None:
    det = """
    keywords:
      - 'MimiKatz'
      - 'sekurlsa::*pass'
    condition: keywords
    """
    values = [
        {"CommandLine": "run mimikatz.exe"},
        {"Description": "MIMIKATZ"},
        {"CommandLine": "x sekurlsa::logonpasswords"},
        {"CommandLine": "sekurlsa::tickets"},
        {"Image": "C:\\clean.exe"},
    ]
    assert hunter.one(det, values) == {0, 1, 2}


def test_keyword_wildcards_stay_within_one_field(hunter: Hunter) -> None:
    det = "keywords:\n  - 'evil*?payload'\ncondition: keywords"
    values = [
        {"Image": "C:\\evil", "CommandLine": "payload.exe"},  # across two fields: no match
        {"CommandLine": "evil -> payload"},
        {"CommandLine": "evilpayload"},  # ``?`` needs one character
    ]
    assert hunter.one(det, values) == {1}


def test_keyword_with_field_condition_and_cased(hunter: Hunter) -> None:
    det = """
    keywords:
      '|cased': 'EVIL'
    sel:
      Image|endswith: '.exe'
    condition: keywords and sel
    """
    values = [
        {"Image": "a.exe", "CommandLine": "EVIL"},
        {"Image": "a.exe", "CommandLine": "evil"},
        {"CommandLine": "EVIL"},
    ]
    assert hunter.one(det, values) == {0}


def test_null_value_matches_missing_and_empty(hunter: Hunter) -> None:
    det = "sel:\n  Image|endswith: '.exe'\n  OriginalFileName: null\ncondition: sel"
    values = [
        {"Image": "a.exe"},
        {"Image": "a.exe", "OriginalFileName": ""},
        {"Image": "a.exe", "OriginalFileName": "cmd.exe"},
    ]
    assert hunter.one(det, values) == {0, 1}
    negated = (
        "sel:\n  Image|endswith: '.exe'\nfilter:\n  OriginalFileName: null\ncondition: sel and not filter"
    )
    assert hunter.one(negated, values) == {2}


@pytest.mark.parametrize(("flag", "expected"), [("true", {0, 1}), ("false", {2})])
def test_exists(hunter: Hunter, flag: str, expected: set[int]) -> None:
    det = f"sel:\n  Image|endswith: '.exe'\n  ParentImage|exists: {flag}\ncondition: sel"
    values = [
        {"Image": "a.exe", "ParentImage": "p.exe"},
        {"Image": "a.exe", "ParentImage": "P.EXE"},
        {"Image": "a.exe"},
    ]
    assert hunter.one(det, values) == expected


def test_numeric_compare(hunter: Hunter) -> None:
    values = [
        {"ProcessId": 999},
        {"ProcessId": 1000},
        {"ProcessId": 1001},
        {"ProcessId": "abc"},
        {"Image": "x"},
    ]
    for op, expected in [("lt", {0}), ("lte", {0, 1}), ("gt", {2}), ("gte", {1, 2})]:
        assert hunter.one(f"sel:\n  ProcessId|{op}: 1000\ncondition: sel", values) == expected, op
    assert hunter.one("sel:\n  ProcessId: 1000\ncondition: sel", values) == {1}
    not_gt = "sel:\n  ProcessId|gt: 1000\ncondition: not sel"
    assert hunter.one(not_gt, values) == {0, 1, 3, 4}


def test_fieldref(hunter: Hunter) -> None:
    det = "sel:\n  Image|fieldref: ParentImage\ncondition: sel"
    values = [
        {"Image": "C:\\a.exe", "ParentImage": "c:\\A.EXE"},
        {"Image": "C:\\a.exe", "ParentImage": "C:\\b.exe"},
        {"Image": "C:\\a.exe"},
    ]
    assert hunter.one(det, values) == {0}
    assert hunter.one(det.replace("condition: sel", "condition: not sel"), values) == {1, 2}
