"""Indicator values: type detection, refanging, normalisation and the match keys the store indexes.

Hand-written: the rules are small and specific to how the store matches (one exact key per indicator,
the parent-domain and CIDR keys a looked-up value expands to). ``ipaddress`` does the address work.

Match keys (one text column, one index):

* exact: ``<type>:<normalised value>`` for every type;
* a domain query also looks up ``domain:<parent>`` for each parent with at least two labels, and
  ``file_name:<value>`` (``invoice.doc`` has the shape of a domain);
* an IPv4 query also looks up ``cidr:<network>/<len>`` for each prefix length present in the store;
* a URL query also looks up its host as a domain or IP (``url-host``).
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from aptcatch.knowledge.models import IndicatorType

HEX_RE = re.compile(r"[0-9a-fA-F]+")
DOMAIN_RE = re.compile(r"(?=.{4,253}$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{1,62}")
HASH_TYPES: dict[int, IndicatorType] = {32: "md5", 40: "sha1", 64: "sha256"}


class IndicatorError(ValueError):
    """A value that is not a valid indicator of the stated type."""


_FANGS = re.compile(r"[\[({]|hxxp", re.IGNORECASE)
IPV4_RE = re.compile(r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}")


def refang(value: str) -> str:
    """Undo common defanging: ``hxxp``, ``[.]``, ``(.)``, ``[:]``, ``[at]``."""
    v = value.strip().strip("\ufeff")
    if not _FANGS.search(v):
        return v
    v = re.sub(r"^hxxp", "http", v, flags=re.IGNORECASE)
    v = v.replace("[.]", ".").replace("(.)", ".").replace("{.}", ".").replace("[dot]", ".")
    return v.replace("[:]", ":").replace("[://]", "://").replace("[at]", "@")


def defang(value: str) -> str:
    """For human output: ``hxxp://evil[.]com``."""
    v = re.sub(r"^http", "hxxp", value, flags=re.IGNORECASE)
    return v.replace(".", "[.]")


def detect_type(raw: str) -> IndicatorType | None:
    """Guess the type of a bare value (domain, IP, CIDR, URL, hash, PDB path, file name)."""
    v = refang(raw)
    if not v or len(v) > 4096:
        return None
    if len(v) in HASH_TYPES and HEX_RE.fullmatch(v):
        return HASH_TYPES[len(v)]
    if re.match(r"^[a-z][a-z0-9+.-]*://", v, flags=re.IGNORECASE):
        return "url"
    try:
        ip = ipaddress.ip_address(v)
        return "ipv4" if ip.version == 4 else "ipv6"
    except ValueError:
        pass
    if "/" in v:
        try:
            net = ipaddress.ip_network(v, strict=False)
            if net.version == 4:
                return "cidr"
        except ValueError:
            pass
    if v.lower().endswith(".pdb") and ("\\" in v or "/" in v):
        return "pdb_path"
    if DOMAIN_RE.fullmatch(v.lower().rstrip(".")):
        return "domain"
    return None


def normalize(itype: IndicatorType, raw: str) -> str:
    """The stored form of a value: refanged, lowercased where case carries no meaning."""
    v = refang(raw)
    if itype in ("md5", "sha1", "sha256"):
        v = v.lower()
        if len(v) != {"md5": 32, "sha1": 40, "sha256": 64}[itype] or not HEX_RE.fullmatch(v):
            raise IndicatorError(f"not a {itype}: {raw!r}")
        return v
    if itype == "domain":
        v = v.lower().rstrip(".")
        if not DOMAIN_RE.fullmatch(v):
            raise IndicatorError(f"not a domain: {raw!r}")
        return v
    if itype in ("ipv4", "ipv6"):
        try:
            ip = ipaddress.ip_address(v)
        except ValueError as exc:
            raise IndicatorError(f"not an IP address: {raw!r}") from exc
        if (ip.version == 4) != (itype == "ipv4"):
            raise IndicatorError(f"not an {itype} address: {raw!r}")
        return str(ip)
    if itype == "cidr":
        try:
            return str(ipaddress.ip_network(v, strict=False))
        except ValueError as exc:
            raise IndicatorError(f"not a CIDR block: {raw!r}") from exc
    if itype == "url":
        parts = urlsplit(v)
        if not parts.scheme or not parts.netloc:
            raise IndicatorError(f"not a URL: {raw!r}")
        return parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower()).geturl()
    if itype in ("file_name", "pdb_path"):
        return v.lower()
    if not v:
        raise IndicatorError(f"empty {itype}")
    return v


def match_key(itype: IndicatorType, value: str) -> str:
    """The exact-match key of a normalised value."""
    return f"{itype}:{value}"


def ipv4_range(itype: IndicatorType, value: str) -> tuple[int, int] | None:
    """Integer [low, high] of an IPv4 address or block (for range columns), else None."""
    if itype == "ipv4":
        n = int(ipaddress.IPv4Address(value))
        return n, n
    if itype == "cidr":
        net = ipaddress.ip_network(value, strict=False)
        if net.version == 4:
            return int(net.network_address), int(net.broadcast_address)
    return None


def query_keys(raw: str, cidr_lengths: tuple[int, ...] = ()) -> list[tuple[str, str]]:
    """Every (match kind, key) a looked-up value should be matched on, most specific first."""
    v = refang(raw)
    if IPV4_RE.fullmatch(v):  # fast path: the commonest hunted values
        return [("exact", f"ipv4:{v}"), *_cidr_keys(v, cidr_lengths)]
    if len(v) in HASH_TYPES and HEX_RE.fullmatch(v):
        return [("exact", f"{HASH_TYPES[len(v)]}:{v.lower()}")]
    low = v.lower()
    if "/" not in v and DOMAIN_RE.fullmatch(low):
        # "report.doc" is domain-shaped too: also try it as a file name.
        return [("exact", f"domain:{low}"), ("exact", f"file_name:{low}"), *_domain_parents(low)]
    itype = detect_type(v)
    if itype is None:
        # Free text: file names, mutexes, user agents are matched exactly under each of their types.
        low = v.lower()
        return [("exact", f"file_name:{low}"), ("exact", f"mutex:{v}"), ("exact", f"user_agent:{v}")]
    try:
        value = normalize(itype, v)
    except IndicatorError:
        return []
    keys = [("exact", match_key(itype, value))]
    if itype == "domain":
        keys += _domain_parents(value)
    elif itype == "ipv4":
        keys += _cidr_keys(value, cidr_lengths)
    elif itype == "url":
        host = urlsplit(value).hostname or ""
        htype = detect_type(host)
        if htype == "domain":
            keys += [("url-host", f"domain:{host}")] + [("url-host", k) for _, k in _domain_parents(host)]
        elif htype == "ipv4":
            keys += [("url-host", f"ipv4:{host}")] + [
                ("url-host", k) for _, k in _cidr_keys(host, cidr_lengths)
            ]
    elif itype == "pdb_path":
        keys.append(("exact", f"file_name:{value}"))
    return keys


def _domain_parents(domain: str) -> list[tuple[str, str]]:
    labels = domain.split(".")
    return [("parent-domain", "domain:" + ".".join(labels[i:])) for i in range(1, len(labels) - 1)]


def _cidr_keys(ip: str, lengths: tuple[int, ...]) -> list[tuple[str, str]]:
    if not lengths:
        return []
    a, b, c, d = (int(x) for x in ip.split("."))
    n = a << 24 | b << 16 | c << 8 | d
    out = []
    for plen in lengths:
        m = n & ((0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF if plen else 0)
        out.append(("cidr", f"cidr:{m >> 24}.{(m >> 16) & 255}.{(m >> 8) & 255}.{m & 255}/{plen}"))
    return out
