"""Loading rule files: every rule that cannot be used is listed with file and reason; cross-file
correlations and filters; the compile cache (hit, identical rules, invalidation)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aptcatch.hunt.sigma import ir
from aptcatch.hunt.sigma.rules import RuleSet, cache_dir, load_rules

from .conftest import ENGINES, Hunter, rule_yaml, win_event

GOOD = rule_yaml("good", "sel:\n  Image|endswith: '\\cmd.exe'\ncondition: sel", extra="name: good\n")
BROKEN = {
    "bad_yaml.yml": "title: x\ndetection: [unclosed\n",
    "no_condition.yml": "title: nocond\nlogsource:\n  product: windows\ndetection:\n  sel:\n    Image: x\n",
    "expand.yml": rule_yaml("expand", "sel:\n  Image|expand: '%Admins%'\ncondition: sel"),
    "bad_modifier.yml": rule_yaml("badmod", "sel:\n  Image|frobnicate: x\ncondition: sel"),
    "undefined.yml": rule_yaml("undefined", "sel:\n  Image: x\ncondition: sel and nope"),
    "bad_regex.yml": rule_yaml("badre", "sel:\n  Image|re: '(unclosed'\ncondition: sel"),
    "fieldref_startswith.yml": rule_yaml(
        "fieldref_sw", "sel:\n  Image|fieldref|startswith: ParentImage\ncondition: sel"
    ),
    "not_a_map.yml": "- a\n- b\n",
    "empty.yml": "# a comment and nothing else\n",
    "bad_action.yml": "action: bogus\ntitle: x\n",
    "no_title.yml": "foo: bar\n",
}
# file -> (rule named in the failure, a piece of the reason)
EXPECTED = {
    "bad_yaml.yml": ("", "ParserError"),
    "no_condition.yml": ("nocond", "condition"),
    "expand.yml": ("expand", "placeholder"),
    "bad_modifier.yml": ("badmod", "frobnicate"),
    "undefined.yml": ("undefined", "nope"),
    "bad_regex.yml": ("badre", "(unclosed"),
    "fieldref_startswith.yml": ("fieldref_sw", "|fieldref with |startswith"),
    "not_a_map.yml": ("", ""),
    "empty.yml": ("", "no Sigma rule"),
    "bad_action.yml": ("", "bogus"),
    "no_title.yml": ("?", "title"),
}


def _write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_every_unusable_rule_is_listed_with_file_and_reason(tmp_path: Path) -> None:
    folder = _write(tmp_path / "rules", {**BROKEN, "good.yml": GOOD})
    (folder / "latin1.yml").write_bytes("title: caf\xe9\n".encode("latin-1"))
    rs = load_rules([folder], use_cache=False)
    assert [r.title for r in rs.rules] == ["good"]
    assert rs.files == len(BROKEN) + 2
    by_file = {Path(f.path).name: f for f in rs.failures}
    assert set(by_file) == {*BROKEN, "latin1.yml"}
    assert len(rs.failures) == len(by_file)  # one failure per broken file
    for name, (rule, reason) in EXPECTED.items():
        assert by_file[name].rule == rule, name
        assert reason in by_file[name].reason, (name, by_file[name].reason)
        assert by_file[name].reason, name
    assert "UnicodeDecodeError" in by_file["latin1.yml"].reason


def test_one_bad_document_does_not_cost_the_others_in_its_file(tmp_path: Path) -> None:
    two = GOOD + "---\n" + "title: broken\nlogsource:\n  product: windows\ndetection:\n  condition: sel\n"
    rs = load_rules([_write(tmp_path, {"two.yml": two})], use_cache=False)
    assert [r.title for r in rs.rules] == ["good"]
    assert [(Path(f.path).name, f.rule) for f in rs.failures] == [("two.yml", "broken")]


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_rules([tmp_path / "nope"], use_cache=False)


CORRELATION = """title: many cmd
correlation:
  type: event_count
  rules:
    - good
  group-by:
    - Computer
  timespan: 5m
  condition:
    gte: 3
"""


def test_correlation_may_name_a_rule_of_another_file(tmp_path: Path) -> None:
    dangling = CORRELATION.replace("title: many cmd", "title: dangling").replace("- good", "- nosuch")
    folder = _write(tmp_path, {"a_corr.yml": CORRELATION, "b_good.yml": GOOD, "c_dangling.yml": dangling})
    rs = load_rules([folder], use_cache=False)
    assert [c.title for c in rs.correlations] == ["many cmd"]
    assert rs.correlations[0].rules == ("good",)
    assert [(Path(f.path).name, f.rule, "nosuch" in f.reason) for f in rs.failures] == [
        ("c_dangling.yml", "dangling", True)
    ]


FILTER = """title: not for admins
logsource:
  product: windows
  category: process_creation
filter:
  rules:
    - good
  admin:
    User: 'CORP\\admin'
  condition: not admin
"""


def test_filter_in_another_file_applies(tmp_path: Path, engine: str) -> None:
    h = Hunter(tmp_path, engine, "windows")
    rs = load_rules(
        [_write(tmp_path / "rules", {"good.yml": GOOD, "zz_filter.yml": FILTER})], use_cache=False
    )
    assert not rs.failures
    assert [r.title for r in rs.rules] == ["good"]
    events = [
        win_event({"Image": "C:\\cmd.exe", "User": "CORP\\alice"}, record=1),
        win_event({"Image": "C:\\cmd.exe", "User": "corp\\ADMIN"}, record=2),
        win_event({"Image": "C:\\cmd.exe"}, record=3),
    ]
    run = ENGINES[engine](rs.rules).run([h.read(events)])
    assert sorted(x.row for x in run.hits) == [0, 2]


# --- the compile cache ---------------------------------------------------------------------------


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("APTCATCH_CACHE_DIR", str(tmp_path / "cache"))
    return cache_dir()


def _as_data(rs: RuleSet) -> tuple[object, ...]:
    return (rs.rules, rs.correlations, rs.failures, rs.files)


def test_second_load_comes_from_the_cache_with_identical_rules(tmp_path: Path, cache: Path) -> None:
    rich = rule_yaml(
        "rich",
        """
        sel:
          CommandLine|contains|all: ['a', 'B']
          Image|endswith: ['\\x.exe', '\\y.exe']
          ProcessId|gt: 10
          Hashes|re|i: '^sha1='
          ParentImage|fieldref: Image
          OriginalFileName: null
          User|exists: false
          Description|cased: 'Abc*'
          DestinationIp|cidr: '10.0.0.0/8'
        keywords:
          - 'mimi*katz'
        condition: sel or keywords
        """,
        extra="tags:\n  - attack.execution\n  - attack.t1059.001\n",
    )
    folder = _write(tmp_path / "rules", {"good.yml": GOOD, "rich.yml": rich, "c.yml": CORRELATION, **BROKEN})
    first = load_rules([folder])
    assert not first.from_cache
    assert len(list(cache.glob("*.json"))) == 1
    second = load_rules([folder])
    assert second.from_cache
    assert _as_data(second) == _as_data(first)
    assert second.rules[1].techniques == ("T1059.001",)
    assert {type(leaf).__name__ for leaf in _leaves(second.rules[1].expr)} >= {
        "Match",
        "NumCmp",
        "Regex",
        "FieldEq",
        "IsNull",
        "Exists",
        "Keyword",
    }


def _leaves(expr: ir.Expr) -> list[ir.Expr]:
    if isinstance(expr, ir.And | ir.Or):
        return [leaf for item in expr.items for leaf in _leaves(item)]
    if isinstance(expr, ir.Not):
        return _leaves(expr.item)
    return [expr]


def test_changing_adding_or_removing_a_file_invalidates_the_cache(tmp_path: Path, cache: Path) -> None:
    folder = _write(tmp_path / "rules", {"good.yml": GOOD})
    assert not load_rules([folder]).from_cache
    assert load_rules([folder]).from_cache
    (folder / "good.yml").write_text(GOOD.replace("cmd.exe", "pwsh.exe"), encoding="utf-8")
    changed = load_rules([folder])
    assert not changed.from_cache
    assert "pwsh.exe" in repr(changed.rules[0].expr)
    assert load_rules([folder]).from_cache
    (folder / "more.yml").write_text(rule_yaml("more", "sel:\n  Image: x\ncondition: sel"), encoding="utf-8")
    added = load_rules([folder])
    assert (added.from_cache, len(added.rules)) == (False, 2)
    (folder / "more.yml").unlink()
    assert load_rules([folder]).from_cache  # the one-file set is still cached
    assert not load_rules([folder], pipeline="none").from_cache  # another pipeline, another entry


def test_a_damaged_cache_entry_is_rebuilt(tmp_path: Path, cache: Path) -> None:
    folder = _write(tmp_path / "rules", {"good.yml": GOOD})
    first = load_rules([folder])
    (entry,) = cache.glob("*.json")
    entry.write_text("{not json", encoding="utf-8")
    again = load_rules([folder])
    assert not again.from_cache
    assert again.rules == first.rules
    assert json.loads(entry.read_text(encoding="utf-8"))["rules"]
    assert load_rules([folder]).from_cache


def test_use_cache_false_neither_reads_nor_writes(tmp_path: Path, cache: Path) -> None:
    folder = _write(tmp_path / "rules", {"good.yml": GOOD})
    assert not load_rules([folder], use_cache=False).from_cache
    assert not cache.exists() or not list(cache.glob("*.json"))
