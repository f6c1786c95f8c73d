"""MS-SHLLINK (Windows ``.lnk`` shortcut) writer.

Why hand-written: no maintained Python library *writes* shell links. LnkParse3 and pylnk-style
parsers only read them, and the Windows COM API (IShellLink) is not available here, so the sample
generator writes the binary format itself, following [MS-SHLLINK] and libfwsi's notes on shell
items:

* ShellLinkHeader with the LinkCLSID {00021401-0000-0000-C000-000000000046};
* LinkTargetIDList (My Computer, volume ``C:\\``, one file-entry item per path component with a
  0xBEEF0004 extension block carrying the long name);
* LinkInfo with a VolumeID and LocalBasePath;
* StringData (Unicode): description, relative path, working directory, arguments, icon location;
* ExtraData: EnvironmentVariableDataBlock (optional) and a TrackerDataBlock whose MachineID
  and droid GUIDs are the forensic traces analysts pivot on.

A shortcut is only data; nothing here is ever launched.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

from samplegen.cfb import clsid_bytes

LINK_CLSID = "{00021401-0000-0000-C000-000000000046}"
MY_COMPUTER_CLSID = "{20D04FE0-3AEA-1069-A2D8-08002B30309D}"

HAS_LINK_TARGET_ID_LIST = 0x00000001
HAS_LINK_INFO = 0x00000002
HAS_NAME = 0x00000004
HAS_RELATIVE_PATH = 0x00000008
HAS_WORKING_DIR = 0x00000010
HAS_ARGUMENTS = 0x00000020
HAS_ICON_LOCATION = 0x00000040
IS_UNICODE = 0x00000080
HAS_EXP_STRING = 0x00000200

FILE_ATTRIBUTE_DIRECTORY = 0x10
FILE_ATTRIBUTE_ARCHIVE = 0x20
SW_SHOWMINNOACTIVE = 7


@dataclass(frozen=True)
class Shortcut:
    """What a shortcut points at and the traces it carries."""

    target: str
    arguments: str = ""
    description: str = ""
    working_dir: str = ""
    relative_path: str = ""
    icon_location: str = ""
    icon_index: int = 0
    env_target: str = ""
    machine_id: str = "desktop-lure01"
    droid_volume: str = "{8A1C2F36-52E4-4D2B-9C55-1E0F7B3A9D10}"
    droid_file: str = "{3F2504E0-4F89-11D3-9A0C-00005E005301}"
    target_size: int = 0
    show_command: int = SW_SHOWMINNOACTIVE
    filetime: int = 132239520000000000  # 2020-01-20T00:00:00Z
    volume_serial: int = 0x5A1C0DE5
    volume_label: str = ""


def _dos_datetime(year: int = 2019, month: int = 3, day: int = 19, hour: int = 5) -> int:
    date = ((year - 1980) << 9) | (month << 5) | day
    time = hour << 11
    return date | (time << 16)


def _short_name(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    if len(stem) <= 8 and len(ext) <= 3 and stem.count(".") == 0:
        return name
    short = stem.replace(".", "").replace(" ", "").upper()[:6] + "~1"
    return short + ("." + ext.upper()[:3] if ext else "")


def _file_entry(name: str, is_dir: bool, size: int) -> bytes:
    """File-entry shell item (0x31 directory / 0x32 file) with a 0xBEEF0004 block (version 9).

    Returned without its leading ItemIDSize, which :func:`id_list` adds to every item.
    """
    kind = 0x31 if is_dir else 0x32
    attrs = FILE_ATTRIBUTE_DIRECTORY if is_dir else FILE_ATTRIBUTE_ARCHIVE
    head = struct.pack("<BBIIH", kind, 0, 0 if is_dir else size, _dos_datetime(), attrs)
    primary = _short_name(name).encode("ascii") + b"\x00"
    body = head + primary
    if (2 + len(body)) % 2:
        body += b"\x00"
    ext_offset = 2 + len(body)
    long_name = name.encode("utf-16-le") + b"\x00\x00"
    ext = struct.pack("<HIIIH", 9, 0xBEEF0004, _dos_datetime(), _dos_datetime(), 0x2E)
    ext += struct.pack("<HQQHII", 0, 0x0001000000004F00, 0, 0, 0, 0) + long_name
    ext += struct.pack("<H", ext_offset)
    return body + struct.pack("<H", 2 + len(ext)) + ext


def id_list(path: str, size: int) -> bytes:
    """LinkTargetIDList for an absolute ``C:\\...`` path."""
    drive, _, rest = path.partition("\\")
    items = [struct.pack("<BB", 0x1F, 0x50) + clsid_bytes(MY_COMPUTER_CLSID)]
    items.append(b"\x2f" + (drive + "\\").encode("ascii").ljust(22, b"\x00"))
    parts = [p for p in rest.split("\\") if p]
    for i, part in enumerate(parts):
        items.append(_file_entry(part, i < len(parts) - 1, size))
    blob = b"".join(struct.pack("<H", len(item) + 2) + item for item in items) + b"\x00\x00"
    return struct.pack("<H", len(blob)) + blob


def link_info(path: str, serial: int, label: str) -> bytes:
    """LinkInfo with VolumeIDAndLocalBasePath (fixed drive)."""
    volume = struct.pack("<IIII", 0, 3, serial, 0x10) + label.encode("ascii") + b"\x00"
    volume = struct.pack("<I", len(volume)) + volume[4:]
    base = path.encode("ascii") + b"\x00"
    header_size = 0x1C
    volume_offset = header_size
    base_offset = volume_offset + len(volume)
    suffix_offset = base_offset + len(base)
    body = volume + base + b"\x00"
    total = header_size + len(body)
    head = struct.pack("<IIIIIII", total, header_size, 0x1, volume_offset, base_offset, 0, suffix_offset)
    return head + body


def _string(text: str) -> bytes:
    return struct.pack("<H", len(text)) + text.encode("utf-16-le")


def tracker_block(machine_id: str, droid_volume: str, droid_file: str) -> bytes:
    machine = machine_id.encode("ascii")[:15].ljust(16, b"\x00")
    droids = clsid_bytes(droid_volume) + clsid_bytes(droid_file)
    return struct.pack("<IIII", 0x60, 0xA0000003, 0x58, 0) + machine + droids + droids


def environment_block(target: str) -> bytes:
    ansi = target.encode("ascii").ljust(260, b"\x00")
    wide = target.encode("utf-16-le").ljust(520, b"\x00")
    return struct.pack("<II", 0x314, 0xA0000001) + ansi + wide


def build_lnk(link: Shortcut) -> bytes:
    """Serialise ``link`` to MS-SHLLINK bytes."""
    flags = HAS_LINK_TARGET_ID_LIST | HAS_LINK_INFO | IS_UNICODE
    strings = b""
    for flag, value in (
        (HAS_NAME, link.description),
        (HAS_RELATIVE_PATH, link.relative_path),
        (HAS_WORKING_DIR, link.working_dir),
        (HAS_ARGUMENTS, link.arguments),
        (HAS_ICON_LOCATION, link.icon_location),
    ):
        if value:
            flags |= flag
            strings += _string(value)
    extra = b""
    if link.env_target:
        flags |= HAS_EXP_STRING
        extra += environment_block(link.env_target)
    extra += tracker_block(link.machine_id, link.droid_volume, link.droid_file)
    extra += struct.pack("<I", 0)
    header = struct.pack(
        "<I16sIIQQQIiIHHII",
        0x4C,
        clsid_bytes(LINK_CLSID),
        flags,
        FILE_ATTRIBUTE_ARCHIVE,
        link.filetime,
        link.filetime,
        link.filetime,
        link.target_size,
        link.icon_index,
        link.show_command,
        0,
        0,
        0,
        0,
    )
    assert len(header) == 0x4C
    return (
        header
        + id_list(link.target, link.target_size)
        + link_info(link.target, link.volume_serial, link.volume_label)
        + strings
        + extra
    )


def droid_mac(droid_file: str) -> str:
    """The MAC address embedded in a version-1 file droid GUID (for tests and docs)."""
    node = uuid.UUID(droid_file.strip("{}")).node
    return ":".join(f"{(node >> s) & 0xFF:02x}" for s in range(40, -1, -8))
