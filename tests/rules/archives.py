"""Small third-party-style Sigma rule sets for the update tests, as zip/tar bytes or a folder.

The rules are written here for the tests (SigmaHQ-like layout and fields, not copied from it)."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

RULE_A_ID = "0f2c6a44-5b1e-4b57-9d1e-7d3b8c2a9e01"
RULE_B_ID = "1a3d7b55-6c2f-4c68-8e2f-8e4c9d3b0f12"
RULE_C_ID = "2b4e8c66-7d30-4d79-9f30-9f5d0e4c1a23"
EVIL_ID = "3c5f9d77-8e41-4e8a-a041-a06e1f5d2b34"


def rule(rule_id: str, title: str, image: str, category: str = "process_creation") -> bytes:
    return f"""title: {title}
id: {rule_id}
status: test
description: Test rule written for aptcatch's update tests.
author: aptcatch tests
date: 2025-03-01
modified: 2025-06-15
tags:
    - attack.execution
    - attack.t1059.001
logsource:
    category: {category}
    product: windows
detection:
    selection:
        Image|endswith: '{image}'
    condition: selection
falsepositives:
    - Unknown
level: medium
""".encode()


NO_DETECTION = b"title: Lacks a detection\nid: 4d6a0e88-9f52-4f9b-b152-b17f2a6e3c45\nlogsource: {}\n"
BROKEN_YAML = b"title: [unclosed\ndetection: {\n"
BAD_CONDITION = rule("5e7b1f99-a063-4a0c-8263-c2803b7f4d56", "Bad condition", "\\x.exe").replace(
    b"condition: selection", b"condition: selection and and"
)

MEMBERS: dict[str, bytes] = {
    "rules/windows/process_creation/proc_creation_win_a.yml": rule(RULE_A_ID, "Rule A", "\\a.exe"),
    "rules/windows/process_creation/proc_creation_win_b.yml": rule(RULE_B_ID, "Rule B", "\\b.exe"),
    "rules/windows/file/file_event/file_event_win_c.yaml": rule(RULE_C_ID, "Rule C", "\\c.exe", "file_event"),
    "rules/windows/no_detection.yml": NO_DETECTION,
    "rules/windows/broken.yml": BROKEN_YAML,
    "rules/windows/bad_condition.yml": BAD_CONDITION,
    "deprecated/windows/old.yml": rule("6f8c20aa-b174-4b1d-a374-d3914c805e67", "Old", "\\o.exe"),
    "README.md": b"# test rule set\n",
    "LICENSE": b"test licence text\n",
}
VALID_IDS = {RULE_A_ID, RULE_B_ID, RULE_C_ID}


def zip_bytes(members: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in (MEMBERS if members is None else members).items():
            zf.writestr(name, data)
    return buf.getvalue()


def tar_gz_bytes(members: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in (MEMBERS if members is None else members).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def folder(root: Path, members: dict[str, bytes] | None = None) -> Path:
    for name, data in (MEMBERS if members is None else members).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root
