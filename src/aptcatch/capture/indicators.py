"""Indicator extraction from free text, the explicit benign-infrastructure allow-list, and defanging.

Written by hand: IOC-extraction packages on PyPI (iocextract, ioc-finder) either pull large grammars or
accept ``Workbook.Open``-style code tokens as domains; here bare domains are accepted only with a real
TLD that is not also a common file extension, and URLs always keep their host.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Iterator
from functools import cache
from importlib import resources
from urllib.parse import urlsplit

from aptcatch.model.scan import IndicatorType

# Country-code TLDs minus the ones that collide with script/file extensions (ps, sh, py, pl, rs, md,
# so, ms, cs, do, js-likes), plus the generic TLDs seen in lures.
_CCTLDS = (
    "ac ad ae af ag al am ao aq ar at au aw ax az ba bb bd be bf bg bh bi bj bm bn bo br bs bt bw bz ca "
    "cc cd cf cg ch ci ck cl cm cn co cr cu cv cw cx cy cz de dj dk dm dz ec ee eg er es et eu fi fj fk "
    "fm fo fr ga gd ge gf gg gh gi gl gm gn gp gq gr gs gt gu gw gy hk hm hn hr ht hu id ie il im in io "
    "iq ir is it je jm jo jp ke kg kh ki km kn kp kr kw ky kz la lb lc li lk lr ls lt lu lv ly ma mc "
    "me mg mh mk ml mm mn mo mp mq mr mt mu mv mw mx my mz na nc ne nf ng ni nl no np nr nu nz om pa pe "
    "pf pg ph pk pm pn pr pt pw qa re ro ru rw sa sb sc sd se sg si sk sl sm sn sr ss st su sv sx sy sz "
    "tc td tf tg th tj tk tl tm tn to tr tt tv tw tz ua ug uk us uy uz va vc ve vg vi vn vu wf ws ye "
    "yt za zm zw"
)
_GTLDS = (
    "com net org info biz gov edu mil int top xyz site online club live shop store tech space website "
    "icu cyou buzz work link click today world email cloud host press news life fun pro name mobi asia "
    "tel xxx app dev page best vip ltd group services support center network digital global media "
    "agency solutions company biz business onion test example invalid localhost"
)
TLDS = frozenset(_CCTLDS.split() + _GTLDS.split())

_URL = re.compile(
    r"(?i)\b(?:h(?:tt|xx)ps?|ftp|file)(?::|\[:\])//[^\s\"'<>\)\]\}\\^`|]{2,2000}",
)
_HOST_LABEL = r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)"
_DOMAIN = re.compile(
    rf"(?i)(?<![\w@.\-\\/])((?:{_HOST_LABEL}(?:\.|\[\.\]))+([a-z]{{2,12}}))(?![\w\-]|\.\w)",
)
_IPV4 = re.compile(
    r"(?<![\d.])((?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3})(?![\d.])"
)
_EMAIL = re.compile(r"(?i)(?<![\w.+-])([a-z0-9._%+-]{1,64}@(?:[a-z0-9-]{1,63}\.)+[a-z]{2,24})\b")
_HEX = re.compile(r"(?<![0-9A-Fa-f])([0-9A-Fa-f]{64}|[0-9A-Fa-f]{40}|[0-9A-Fa-f]{32})(?![0-9A-Fa-f])")
_WINPATH = re.compile(
    r"(?i)(?<![\w])((?:[a-z]:\\|%[a-z_]+%\\|\\\\[\w.$-]+\\)"
    r"(?:[^\\\r\n\"'<>|*?:%]{1,80}\\){0,20}[^\\\s\"'<>|*?:%;,]{1,120})"
)
_REGKEY = re.compile(
    r"(?i)\b((?:HKEY_(?:LOCAL_MACHINE|CURRENT_USER|CLASSES_ROOT|USERS|CURRENT_CONFIG)|HK(?:LM|CU|CR|U|CC))"
    r"\\[^\s\"'<>\r\n]{3,300})"
)


def refang(value: str) -> str:
    return (
        value.replace("[.]", ".")
        .replace("[:]", ":")
        .replace("hxxp", "http")
        .replace("HXXP", "HTTP")
        .replace("[@]", "@")
    )


def defang(value: str, itype: IndicatorType | str) -> str:
    """Human-safe form: hxxp://, [.] in hosts, [@] in e-mails. JSON keeps the raw value."""
    t = IndicatorType(itype)
    if t is IndicatorType.URL:
        parts = value.split("://", 1)
        scheme = parts[0].replace("http", "hxxp").replace("HTTP", "HXXP")
        if len(parts) == 1:
            return value
        rest = parts[1]
        host, sep, tail = rest.partition("/")
        return f"{scheme}://{host.replace('.', '[.]')}{sep}{tail}"
    if t in (IndicatorType.DOMAIN, IndicatorType.IPV4):
        return value.replace(".", "[.]")
    if t is IndicatorType.EMAIL:
        user, _, host = value.partition("@")
        return f"{user}[@]{host.replace('.', '[.]')}"
    return value


_DEFANG_TYPES = (IndicatorType.URL, IndicatorType.DOMAIN, IndicatorType.IPV4, IndicatorType.EMAIL)


def defang_text(text: str) -> str:
    """Defang every URL, domain, IP and e-mail inside free text (finding details on screen)."""
    values = {v: t for t, v in extract_indicators(text) if t in _DEFANG_TYPES}
    if not values:
        return text
    pattern = re.compile("|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)), re.I)

    def swap(m: re.Match[str]) -> str:
        raw = m.group(0)
        itype = values.get(raw) or next((t for v, t in values.items() if v.lower() == raw.lower()), None)
        return defang(raw, itype) if itype is not None else raw

    return pattern.sub(swap, refang(text))


def _valid_ipv4(text: str) -> bool:
    try:
        ip = ipaddress.IPv4Address(text)
    except ValueError:
        return False
    if ip.is_loopback or ip.is_unspecified or ip.is_multicast or ip.is_link_local or ip.is_reserved:
        return False
    octets = text.split(".")
    # version numbers such as 1.0.0.0, 4.0.30319.0 style (the latter fails IPv4 anyway)
    return not (octets[2] == "0" and octets[3] == "0" and int(octets[0]) < 20)


def _valid_hash(text: str) -> bool:
    has_alpha = any(c.isalpha() for c in text)
    has_digit = any(c.isdigit() for c in text)
    return has_alpha and has_digit and len(set(text.lower())) > 6


def normalise_domain(host: str) -> str | None:
    host = refang(host).strip(".").lower()
    if not host or len(host) > 253 or ".." in host:
        return None
    labels = host.split(".")
    if len(labels) < 2 or labels[-1] not in TLDS:
        return None
    if not all(re.fullmatch(_HOST_LABEL, lab) for lab in labels):
        return None
    return host


def url_host(url: str) -> str | None:
    try:
        parts = urlsplit(refang(url))
        return parts.hostname
    except ValueError:
        return None


def extract_indicators(text: str) -> Iterator[tuple[IndicatorType, str]]:
    """Yield (type, raw value) pairs found in ``text``; duplicates are removed by the caller."""
    if not text:
        return
    text = refang(text)
    url_spans: list[tuple[int, int]] = []
    for m in _URL.finditer(text):
        url = refang(m.group(0)).rstrip(".,;:!?)'\"")
        url_spans.append(m.span())
        host = url_host(url)
        if not host:
            continue
        yield IndicatorType.URL, url
        if _IPV4.fullmatch(host):
            if _valid_ipv4(host):
                yield IndicatorType.IPV4, host
        else:
            dom = normalise_domain(host)
            if dom:
                yield IndicatorType.DOMAIN, dom

    def in_url(pos: int) -> bool:
        return any(a <= pos < b for a, b in url_spans)

    for m in _EMAIL.finditer(text):
        if not in_url(m.start()):
            yield IndicatorType.EMAIL, m.group(1).lower()
    for m in _DOMAIN.finditer(text):
        if in_url(m.start()):
            continue
        if m.group(2).lower() not in TLDS:
            continue
        dom = normalise_domain(m.group(1))
        if dom:
            yield IndicatorType.DOMAIN, dom
    for m in _IPV4.finditer(text):
        if not in_url(m.start()) and _valid_ipv4(m.group(1)):
            yield IndicatorType.IPV4, m.group(1)
    for m in _HEX.finditer(text):
        h = m.group(1)
        if _valid_hash(h):
            kind = {32: IndicatorType.MD5, 40: IndicatorType.SHA1, 64: IndicatorType.SHA256}[len(h)]
            yield kind, h.lower()
    for m in _WINPATH.finditer(text):
        if not in_url(m.start()):
            yield IndicatorType.FILE_PATH, m.group(1).rstrip(".)")
    for m in _REGKEY.finditer(text):
        yield IndicatorType.REGISTRY_KEY, m.group(1).rstrip(".)")


@cache
def _allowlist() -> tuple[frozenset[str], tuple[str, ...]]:
    ref = resources.files("aptcatch.capture").joinpath("data", "allowlist.toml")
    with ref.open("rb") as fh:
        raw = tomllib.load(fh)
    domains = frozenset(d.lower() for d in raw["domains"]["parents"])
    prefixes = tuple(u.lower() for u in raw["urls"]["prefixes"])
    return domains, prefixes


def is_allowlisted(itype: IndicatorType, value: str) -> bool:
    """True for well-known benign infrastructure listed in ``capture/data/allowlist.toml``."""
    domains, prefixes = _allowlist()
    if itype is IndicatorType.URL:
        if value.lower().startswith(prefixes):
            return True
        host = url_host(value)
        return host is not None and _domain_allowed(host.lower(), domains)
    if itype is IndicatorType.DOMAIN:
        return _domain_allowed(value.lower(), domains)
    if itype is IndicatorType.EMAIL:
        return _domain_allowed(value.lower().rpartition("@")[2], domains)
    return False


def _domain_allowed(host: str, parents: frozenset[str]) -> bool:
    labels = host.split(".")
    return any(".".join(labels[i:]) in parents for i in range(len(labels) - 1))
