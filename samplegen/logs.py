"""Example logs for ``aptcatch hunt``: what the Wuhan-form lure leaves behind in an organisation's logs.

Sysmon events of the delivery chains (:mod:`samplegen.sysmon`), a Squid proxy log and a Zeek DNS log in
which one workstation fetches the lure's scriptlet from its host among ordinary traffic, and the IOC
list an analyst would take from ``aptcatch scan`` of the lure. Hosts are reserved names and TEST-NET
addresses only; nothing here is a payload.
"""

from __future__ import annotations

import json
from pathlib import Path

from samplegen.build import LURE_COMMAND
from samplegen.sysmon import write_samples

LURE_HOST = LURE_COMMAND.split("http://", 1)[1].split("/", 1)[0]  # update.example-cdn.test
LURE_IP = "203.0.113.45"
VICTIM = "10.20.30.41"
START = 1580724000  # 2020-02-03 10:00:00 UTC
BENIGN = [
    ("intranet.corp.example", "10.20.0.10", "/portal/index.html"),
    ("news.example.org", "198.51.100.20", "/today"),
    ("cdn.example.net", "198.51.100.31", "/lib/app.js"),
    ("mail.corp.example", "10.20.0.25", "/owa/"),
]


def _squid(t: int, client: str, method: str, url: str, peer: str, size: int) -> str:
    head = f"{t}.{t % 1000:03d}    {120 + t % 50} {client} TCP_MISS/200 {size}"
    return f"{head} {method} {url} - HIER_DIRECT/{peer} text/html"


def _dns(t: int, client: str, query: str, answer: str) -> str:
    rec = {
        "ts": float(t),
        "uid": f"C{t:x}",
        "id.orig_h": client,
        "id.orig_p": 50000 + t % 1000,
        "id.resp_h": "10.20.0.53",
        "id.resp_p": 53,
        "proto": "udp",
        "query": query,
        "qtype_name": "A",
        "rcode_name": "NOERROR",
        "answers": [answer],
    }
    return json.dumps(rec)


def write_logs(outdir: Path) -> list[Path]:
    """Write the example logs and ``iocs.txt`` into ``outdir``; return the paths written."""
    outdir.mkdir(parents=True, exist_ok=True)
    events, labels = write_samples(outdir)
    proxy, dns = [], []
    for i in range(40):
        host, ip, path = BENIGN[i % len(BENIGN)]
        client = f"10.20.30.{40 + i % 5}"
        t = START + i * 45
        proxy.append(_squid(t, client, "GET", f"http://{host}{path}", ip, 1500 + i * 7))
        dns.append(_dns(t - 1, client, host, ip))
        if i == 17:  # the macro's regsvr32 fetching the scriptlet
            dns.append(_dns(t + 1, VICTIM, LURE_HOST, LURE_IP))
            proxy.append(_squid(t + 2, VICTIM, "GET", f"http://{LURE_HOST}/ti.sct", LURE_IP, 2311))
        if i == 18:  # a look-alike that must not match
            dns.append(_dns(t + 1, VICTIM, "update.example-cdn.test.example.org", "198.51.100.99"))
    squid, zeek = outdir / "proxy_access.log", outdir / "zeek_dns.log"
    squid.write_text("\n".join(proxy) + "\n", encoding="utf-8")
    zeek.write_text("\n".join(dns) + "\n", encoding="utf-8")
    iocs = outdir / "iocs.txt"
    iocs.write_text(
        f"{LURE_HOST};scriptlet host of the Wuhan travel-form lure (aptcatch scan)\n"
        f"{LURE_IP};address the scriptlet host resolved to\n",
        encoding="utf-8",
    )
    return [events, labels, squid, zeek, iocs]
