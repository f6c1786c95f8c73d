"""``intel update --from URL|FILE``: fetch an ATT&CK bundle, galaxy cluster file or snapshot and import it.

Downloads use ``urllib.request`` with a timeout and a size cap; only http, https and local files are
accepted. The official locations are listed in :data:`OFFICIAL`.
"""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from aptcatch.knowledge.errors import KnowledgeError

OFFICIAL = {
    "attack": "https://raw.githubusercontent.com/mitre-attack/attack-stix-data/master/enterprise-attack/enterprise-attack.json",
    "galaxy": "https://raw.githubusercontent.com/MISP/misp-galaxy/main/clusters/{name}.json",
}
MAX_BYTES = 256 * 1024 * 1024


def fetch(source: str, dest_dir: Path, timeout: float = 60.0, max_bytes: int = MAX_BYTES) -> Path:
    """Copy a local file or download a URL into ``dest_dir``; returns the local path."""
    parts = urlsplit(source)
    if parts.scheme in ("", "file"):
        path = Path(parts.path if parts.scheme == "file" else source)
        if not path.is_file():
            raise KnowledgeError(f"{source}: no such file")
        return path
    if parts.scheme not in ("http", "https"):
        raise KnowledgeError(f"{source}: only http(s) URLs and local files are accepted")
    name = Path(parts.path).name or "download.json"
    dest = dest_dir / name
    req = urllib.request.Request(source, headers={"User-Agent": "aptcatch-intel-update"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp, dest.open("wb") as out:
            total = 0
            while chunk := resp.read(1 << 16):
                total += len(chunk)
                if total > max_bytes:
                    raise KnowledgeError(f"{source}: larger than {max_bytes} bytes")
                out.write(chunk)
    except OSError as exc:
        raise KnowledgeError(f"{source}: download failed: {exc}") from exc
    return dest


def copy_into(path: Path, dest_dir: Path) -> Path:
    dest = dest_dir / path.name
    shutil.copyfile(path, dest)
    return dest
