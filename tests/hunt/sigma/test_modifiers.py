"""Sigma value modifiers and value syntax on both evaluators (and both Windows reader shapes)."""

from __future__ import annotations

import base64

import pytest

from .conftest import Hunter

CMD = "C:\\Windows\\System32\\cmd.exe"


def test_contains_all(hunter: Hunter) -> None:
    det = "sel:\n  CommandLine|contains|all:\n    - 'net'\n    - 'user'\n    - '/ADD'\ncondition: sel"
    values = [
        {"CommandLine": "NET USER bob pw /add"},
        {"CommandLine": "net user bob"},
        {"CommandLine": "net localgroup /add"},
        {"Image": CMD},
    ]
    assert hunter.one(det, values) == {0}


def test_contains_list_is_any(hunter: Hunter) -> None:
    det = "sel:\n  CommandLine|contains:\n    - 'vssadmin'\n    - 'wbadmin'\ncondition: sel"
    values = [{"CommandLine": "VSSADMIN delete"}, {"CommandLine": "wbadmin x"}, {"CommandLine": "bcdedit"}]
    assert hunter.one(det, values) == {0, 1}


def test_startswith_and_endswith(hunter: Hunter) -> None:
    values = [
        {"Image": CMD},
        {"Image": "C:\\Windows\\SysWOW64\\CMD.EXE"},
        {"Image": "D:\\cmd.exe.bak"},
        {"Image": "c:\\windows\\system32\\"},
    ]
    assert hunter.one("sel:\n  Image|endswith: '\\cmd.exe'\ncondition: sel", values) == {0, 1}
    starts = "sel:\n  Image|startswith: 'C:\\Windows\\System32\\'\ncondition: sel"
    assert hunter.one(starts, values) == {0, 3}
    both = "sel:\n  Image|startswith: 'c:\\windows\\'\n  Image|endswith: '.exe'\ncondition: sel"
    assert hunter.one(both, values) == {0, 1}


def test_backslashes_in_windows_paths(hunter: Hunter) -> None:
    values = [
        {"Image": CMD},
        {"Image": "C:\\Windows\\System32\\\\cmd.exe"},  # a doubled separator is another path
        {"Image": "C:/Windows/System32/cmd.exe"},
    ]
    single = "sel:\n  Image: 'C:\\Windows\\System32\\cmd.exe'\ncondition: sel"
    assert hunter.one(single, values) == {0}
    # Sigma: a backslash not before a wildcard or backslash may be written doubled; both mean one
    doubled = "sel:\n  Image: 'C:\\\\Windows\\\\System32\\\\cmd.exe'\ncondition: sel"
    assert hunter.one(doubled, values) == {0}


def test_wildcards(hunter: Hunter) -> None:
    values = [
        {"Image": "C:\\Windows\\System32\\cmd.exe"},
        {"Image": "C:\\Windows\\SysWOW64\\cmd.exe"},
        {"Image": "C:\\Windows\\cmd.exe"},
        {"Image": "C:\\Windows\\System32\\cmdx.exe"},
    ]
    # ``\*`` escapes the wildcard, so a separator before one is written ``\\*`` (Sigma's rule)
    star = "sel:\n  Image: 'C:\\Windows\\\\*\\cmd.exe'\ncondition: sel"
    assert hunter.one(star, values) == {0, 1}
    literal = "sel:\n  Image: 'C:\\Windows\\*\\cmd.exe'\ncondition: sel"
    assert hunter.one(literal, [*values, {"Image": "C:\\Windows*\\cmd.exe"}]) == {4}
    question = "sel:\n  Image: 'C:\\Windows\\Sys???64\\cmd.exe'\ncondition: sel"
    assert hunter.one(question, values) == {1}
    middle = "sel:\n  Image: '*\\cmd?.exe'\ncondition: sel"
    assert hunter.one(middle, values) == {3}


def test_escaped_wildcards_are_literal(hunter: Hunter) -> None:
    values = [
        {"CommandLine": "echo *"},
        {"CommandLine": "echo x"},
        {"CommandLine": "what?"},
        {"CommandLine": "whatx"},
        {"CommandLine": "C:\\Temp\\a.txt"},
    ]
    assert hunter.one("sel:\n  CommandLine: 'echo \\*'\ncondition: sel", values) == {0}
    assert hunter.one("sel:\n  CommandLine: 'what\\?'\ncondition: sel", values) == {2}
    assert hunter.one("sel:\n  CommandLine|contains: '\\*'\ncondition: sel", values) == {0}
    # an escaped backslash before a wildcard: a literal backslash, then any text
    assert hunter.one("sel:\n  CommandLine: 'C:\\Temp\\\\*'\ncondition: sel", values) == {4}


def test_sql_like_characters_are_literal(hunter: Hunter) -> None:
    """``%`` and ``_`` are not wildcards in Sigma (the SQL LIKE rendering must escape them)."""
    values = [{"CommandLine": "50% off_now"}, {"CommandLine": "50X offXnow"}, {"CommandLine": "it's"}]
    assert hunter.one("sel:\n  CommandLine: '50% off_*'\ncondition: sel", values) == {0}
    assert hunter.one("sel:\n  CommandLine|contains: '% off_'\ncondition: sel", values) == {0}
    assert hunter.one("sel:\n  CommandLine: '*_n?w'\ncondition: sel", values) == {0}
    assert hunter.one("sel:\n  CommandLine: 'it''s'\ncondition: sel", values) == {2}
    assert hunter.one("sel:\n  CommandLine: 'it''*'\ncondition: sel", values) == {2}


def test_regex_is_case_sensitive_by_default(hunter: Hunter) -> None:
    values = [{"CommandLine": "powershell -enc AAAA"}, {"CommandLine": "POWERSHELL -ENC AAAA"}]
    assert hunter.one("sel:\n  CommandLine|re: 'powershell\\s+-enc\\s'\ncondition: sel", values) == {0}
    assert hunter.one("sel:\n  CommandLine|re|i: 'powershell\\s+-enc\\s'\ncondition: sel", values) == {0, 1}
    assert hunter.one("sel:\n  CommandLine|re: '^p.*A$'\ncondition: sel", values) == {0}


def test_regex_multiline_and_dotall(hunter: Hunter) -> None:
    values = [{"CommandLine": "first\nsecond line"}, {"CommandLine": "first second"}]
    assert hunter.one("sel:\n  CommandLine|re: '^second'\ncondition: sel", values) == set()
    assert hunter.one("sel:\n  CommandLine|re|m: '^second'\ncondition: sel", values) == {0}
    assert hunter.one("sel:\n  CommandLine|re: 'first.second'\ncondition: sel", values) == {1}
    assert hunter.one("sel:\n  CommandLine|re|s: 'first.second'\ncondition: sel", values) == {0, 1}
    both = "sel:\n  CommandLine|re|i|m: '^SECOND'\ncondition: sel"
    assert hunter.one(both, values) == {0}


@pytest.mark.parametrize(
    ("cidr", "expected"),
    [
        ("10.0.0.0/8", {0, 1}),
        ("192.168.1.0/24", {2}),
        ("172.16.0.0/12", {3}),
        ("192.168.1.7/32", {2}),
        ("2001:db8::/32", {5, 6}),
        ("fe80::/10", {7}),
        ("::1/128", {8}),
    ],
)
def test_cidr(hunter: Hunter, cidr: str, expected: set[int]) -> None:
    ips = [
        "10.1.2.3",
        "10.255.0.1",
        "192.168.1.7",
        "172.31.255.1",
        "172.160.0.1",  # not in 172.16.0.0/12
        "2001:db8::1",
        "2001:DB8:1::FF",  # upper-case hex
        "fe80::1c2d:3e4f:5a6b:7c8d",
        "::1",
    ]
    det = f"sel:\n  DestinationIp|cidr: '{cidr}'\ncondition: sel"
    assert hunter.one(det, [{"DestinationIp": ip} for ip in ips]) == expected


def test_windash(hunter: Hunter) -> None:
    det = "sel:\n  CommandLine|windash|contains: ' -encodedcommand '\ncondition: sel"
    values = [
        {"CommandLine": "powershell -EncodedCommand AA"},
        {"CommandLine": "powershell /encodedcommand AA"},
        {"CommandLine": "powershell \u2013encodedcommand AA"},  # en dash
        {"CommandLine": "powershell \u2014encodedcommand AA"},  # em dash
        {"CommandLine": "powershell \u2015encodedcommand AA"},  # horizontal bar
        {"CommandLine": "powershell encodedcommand AA"},
    ]
    assert hunter.one(det, values) == {0, 1, 2, 3, 4}


def test_base64offset(hunter: Hunter) -> None:
    det = "sel:\n  CommandLine|base64offset|contains: 'http://'\ncondition: sel"
    encoded = [base64.b64encode(prefix + b"http://example.test/a").decode() for prefix in (b"", b"x", b"xy")]
    values = [{"CommandLine": f"powershell -e {e}"} for e in encoded]
    values.append({"CommandLine": "powershell -e " + base64.b64encode(b"https://example.test").decode()})
    assert hunter.one(det, values) == {0, 1, 2}


def test_wide_base64offset(hunter: Hunter) -> None:
    det = "sel:\n  CommandLine|wide|base64offset|contains: 'IEX'\ncondition: sel"
    text = "Write-Host 1; IEX (New-Object Net.WebClient)"
    values = [
        {"CommandLine": "-enc " + base64.b64encode(text.encode("utf-16-le")).decode()},
        {"CommandLine": "-enc " + base64.b64encode(text.encode()).decode()},  # not UTF-16
    ]
    assert hunter.one(det, values) == {0}


def test_null_in_a_list_of_values(hunter: Hunter) -> None:
    det = "sel:\n  Image|endswith: '.exe'\nfilter:\n  OriginalFileName:\n    - null\n    - ''\n    - '?'\n"
    det += "condition: sel and not filter"
    values = [
        {"Image": "a.exe"},
        {"Image": "a.exe", "OriginalFileName": ""},
        {"Image": "a.exe", "OriginalFileName": "?"},
        {"Image": "a.exe", "OriginalFileName": "x"},
        {"Image": "a.exe", "OriginalFileName": "cmd.exe"},
    ]
    assert hunter.one(det, values) == {4}


def test_numbers_and_booleans_compare_as_text(hunter: Hunter) -> None:
    values = [{"DestinationPort": 4444}, {"DestinationPort": "4444"}, {"DestinationPort": 44444}]
    assert hunter.one("sel:\n  DestinationPort: 4444\ncondition: sel", values) == {0, 1}
    flags = [{"Initiated": True}, {"Initiated": "true"}, {"Initiated": False}]
    assert hunter.one("sel:\n  Initiated: 'true'\ncondition: sel", flags) == {0, 1}
    assert hunter.one("sel:\n  Initiated: true\ncondition: sel", flags) == {0, 1}


def test_numeric_compare_reads_text_as_sql_try_cast_does(hunter: Hunter) -> None:
    """Decimal, negative, exponent, padded and infinite numbers compare; hex, NaN, non-ASCII digits don't."""
    texts = ["1.5", "-3", "0x10", "2e3", " 7 ", "inf", "nan", "NaN", "\u0661\u0662", "\uff11\uff12", "1,5"]
    values = [{"Size": t} for t in texts]
    assert hunter.one("sel:\n  Size|gt: 1\ncondition: sel", values) == {0, 3, 4, 5}
    assert hunter.one("sel:\n  Size|lt: 0\ncondition: sel", values) == {1}
    assert hunter.one("sel:\n  Size|gte: -1000000\ncondition: not sel", values) == {2, 6, 7, 8, 9, 10}


def test_regex_beyond_re2(hunter: Hunter, engine: str, request: pytest.FixtureRequest) -> None:
    """Look-around is valid in Sigma's regular expressions (PCRE-like) but not in RE2."""
    if engine == "duckdb":
        request.applymarker(
            pytest.mark.xfail(
                strict=True,
                reason="DuckDBSigma hands the pattern to regexp_matches (RE2), which raises "
                "'invalid perl operator: (?!' and fails the whole run; VectorSigma falls back to re",
            )
        )
    values = [{"CommandLine": "foobar"}, {"CommandLine": "foobaz"}]
    assert hunter.one("sel:\n  CommandLine|re: 'foo(?!bar)'\ncondition: sel", values) == {1}
