"""Minimal MS-CFB (Compound File Binary, "OLE2") writer.

Why hand-written: no maintained Python library *writes* compound files. olefile and
oletools only read them (olefile can overwrite a stream of the same size in place, nothing
more), so the sample generator carries this small writer of its own, following [MS-CFB]:

* version 3 file, 512-byte sectors, 64-byte mini sectors, mini stream cutoff 4096 bytes;
* FAT sectors listed in the header DIFAT (109 entries, i.e. files up to ~6.8 MiB);
* streams smaller than 4096 bytes live in the mini stream (owned by the root entry) and are
  chained in the mini FAT; larger streams get regular sectors;
* the children of each storage form a red-black tree ordered the MS-CFB way (shorter name
  first, then upper-cased UTF-16 code units), built balanced from the sorted names so that the
  colouring is valid.

Only the standard library is used. Nothing written here is ever executed.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass, field

SECTOR_SIZE = 512
MINI_SECTOR_SIZE = 64
MINI_STREAM_CUTOFF = 4096
HEADER_DIFAT_ENTRIES = 109

FREESECT = 0xFFFFFFFF
ENDOFCHAIN = 0xFFFFFFFE
FATSECT = 0xFFFFFFFD
NOSTREAM = 0xFFFFFFFF

SIGNATURE = bytes.fromhex("D0CF11E0A1B11AE1")

TYPE_STORAGE = 1
TYPE_STREAM = 2
TYPE_ROOT = 5
RED = 0
BLACK = 1

ZERO_CLSID = b"\x00" * 16


def clsid_bytes(text: str) -> bytes:
    """Return the 16-byte on-disk (little-endian GUID) form of ``{xxxxxxxx-...}``."""
    return uuid.UUID(text.strip("{}")).bytes_le


@dataclass
class Storage:
    """A storage (folder) of a compound file: named streams (bytes) and sub-storages."""

    children: dict[str, bytes | Storage] = field(default_factory=dict)
    clsid: bytes = ZERO_CLSID

    def add(self, path: str, data: bytes) -> None:
        """Add a stream at ``path`` ("VBA/dir"), creating intermediate storages."""
        parts = path.split("/")
        node = self
        for part in parts[:-1]:
            child = node.children.setdefault(part, Storage())
            if not isinstance(child, Storage):
                raise ValueError(f"{part!r} is a stream, not a storage")
            node = child
        node.children[parts[-1]] = data


@dataclass
class _Entry:
    name: str
    kind: int
    clsid: bytes = ZERO_CLSID
    data: bytes = b""
    children: list[int] = field(default_factory=list)
    left: int = NOSTREAM
    right: int = NOSTREAM
    child: int = NOSTREAM
    color: int = BLACK
    start: int = ENDOFCHAIN
    size: int = 0


def _sort_key(name: str) -> tuple[int, list[int]]:
    units = name.encode("utf-16-le")
    codes = [int.from_bytes(units[i : i + 2], "little") for i in range(0, len(units), 2)]
    # MS-CFB compares lengths first, then code units upper-cased (simple case mapping).
    upper = [ord(chr(c).upper()) if len(chr(c).upper()) == 1 else c for c in codes]
    return len(codes), upper


def _build_tree(entries: list[_Entry], ids: list[int]) -> int:
    """Link ``ids`` (siblings) into a balanced red-black tree; return the root id."""
    ordered = sorted(ids, key=lambda i: _sort_key(entries[i].name))
    if not ordered:
        return NOSTREAM
    depth_of: dict[int, int] = {}

    def link(lo: int, hi: int, depth: int) -> int:
        if lo > hi:
            return NOSTREAM
        mid = (lo + hi + 1) // 2
        node = ordered[mid]
        depth_of[node] = depth
        entries[node].left = link(lo, mid - 1, depth + 1)
        entries[node].right = link(mid + 1, hi, depth + 1)
        return node

    root = link(0, len(ordered) - 1, 0)
    # A median-split tree keeps every leaf on the last two levels; colouring the deepest level
    # red (never the root) gives equal black heights on every path.
    max_depth = max(depth_of.values())
    for node, depth in depth_of.items():
        entries[node].color = RED if depth == max_depth and depth > 0 else BLACK
    return root


def _flatten(root: Storage) -> list[_Entry]:
    entries = [_Entry("Root Entry", TYPE_ROOT, clsid=root.clsid)]

    def visit(storage: Storage, parent: int) -> None:
        for name, item in storage.children.items():
            if len(name) > 31 or any(ch in name for ch in "/\\:!"):
                raise ValueError(f"invalid compound-file entry name {name!r}")
            index = len(entries)
            if isinstance(item, Storage):
                entries.append(_Entry(name, TYPE_STORAGE, clsid=item.clsid))
                entries[parent].children.append(index)
                visit(item, index)
            else:
                entries.append(_Entry(name, TYPE_STREAM, data=bytes(item), size=len(item)))
                entries[parent].children.append(index)

    visit(root, 0)
    for entry in entries:
        if entry.kind in (TYPE_ROOT, TYPE_STORAGE):
            entry.child = _build_tree(entries, entry.children)
    return entries


def _pad(data: bytes, unit: int) -> bytes:
    rem = len(data) % unit
    return data + b"\x00" * (unit - rem) if rem else data


def _dir_entry(entry: _Entry) -> bytes:
    name = entry.name.encode("utf-16-le") + b"\x00\x00"
    return struct.pack(
        "<64sHBBIII16sIQQIQ",
        name,
        len(name),
        entry.kind,
        entry.color,
        entry.left,
        entry.right,
        entry.child,
        entry.clsid,
        0,
        0,
        0,
        entry.start if entry.kind != TYPE_STORAGE else 0,
        entry.size,
    )


_EMPTY_ENTRY = struct.pack(
    "<64sHBBIII16sIQQIQ", b"", 0, 0, 0, NOSTREAM, NOSTREAM, NOSTREAM, ZERO_CLSID, 0, 0, 0, 0, 0
)


def build_cfb(root: Storage) -> bytes:
    """Serialise ``root`` to the bytes of a version-3 compound file."""
    entries = _flatten(root)

    # 1. Mini stream: small streams, 64-byte mini sectors chained in the mini FAT.
    mini_stream = bytearray()
    minifat: list[int] = []
    big: list[_Entry] = []
    for entry in entries:
        if entry.kind != TYPE_STREAM:
            continue
        if entry.size == 0:
            entry.start = ENDOFCHAIN
        elif entry.size < MINI_STREAM_CUTOFF:
            first = len(minifat)
            count = -(-entry.size // MINI_SECTOR_SIZE)
            minifat.extend(range(first + 1, first + count))
            minifat.append(ENDOFCHAIN)
            entry.start = first
            mini_stream += _pad(entry.data, MINI_SECTOR_SIZE)
        else:
            big.append(entry)

    n_dir = -(-len(entries) // 4)
    n_minifat = -(-len(minifat) * 4 // SECTOR_SIZE)
    n_ministream = -(-len(mini_stream) // SECTOR_SIZE)
    n_big = sum(-(-e.size // SECTOR_SIZE) for e in big)
    rest = n_dir + n_minifat + n_ministream + n_big
    n_fat = 1
    while n_fat * (SECTOR_SIZE // 4) < n_fat + rest:
        n_fat += 1
    if n_fat > HEADER_DIFAT_ENTRIES:
        raise ValueError("compound file too large for a header-only DIFAT")

    # 2. Sector layout: FAT | directory | mini FAT | mini stream | big streams.
    fat = [FREESECT] * (n_fat * (SECTOR_SIZE // 4))
    cursor = 0

    def chain(count: int) -> int:
        nonlocal cursor
        if count == 0:
            return ENDOFCHAIN
        first = cursor
        for sector in range(first, first + count - 1):
            fat[sector] = sector + 1
        fat[first + count - 1] = ENDOFCHAIN
        cursor += count
        return first

    for sector in range(n_fat):
        fat[sector] = FATSECT
    cursor = n_fat
    dir_start = chain(n_dir)
    minifat_start = chain(n_minifat)
    ministream_start = chain(n_ministream)
    for entry in big:
        entry.start = chain(-(-entry.size // SECTOR_SIZE))

    entries[0].start = ministream_start if mini_stream else ENDOFCHAIN
    entries[0].size = len(mini_stream)

    difat = list(range(n_fat)) + [FREESECT] * (HEADER_DIFAT_ENTRIES - n_fat)
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII",
        SIGNATURE,
        ZERO_CLSID,
        0x003E,
        0x0003,
        0xFFFE,
        9,
        6,
        b"\x00" * 6,
        0,
        n_fat,
        dir_start,
        0,
        MINI_STREAM_CUTOFF,
        minifat_start if n_minifat else ENDOFCHAIN,
        n_minifat,
        ENDOFCHAIN,
        0,
    ) + struct.pack(f"<{HEADER_DIFAT_ENTRIES}I", *difat)
    assert len(header) == SECTOR_SIZE

    directory = b"".join(_dir_entry(e) for e in entries)
    directory += _EMPTY_ENTRY * (n_dir * 4 - len(entries))
    minifat_bytes = struct.pack(f"<{len(minifat)}I", *minifat) if minifat else b""
    minifat_bytes += struct.pack("<I", FREESECT) * (n_minifat * SECTOR_SIZE // 4 - len(minifat))

    out = bytearray(header)
    out += struct.pack(f"<{len(fat)}I", *fat)
    out += directory
    out += minifat_bytes
    out += _pad(bytes(mini_stream), SECTOR_SIZE)
    for entry in big:
        out += _pad(entry.data, SECTOR_SIZE)
    assert len(out) == SECTOR_SIZE * (1 + cursor)
    return bytes(out)


def build_cfb_from_paths(streams: dict[str, bytes], root_clsid: bytes = ZERO_CLSID) -> bytes:
    """Convenience wrapper: ``{"VBA/dir": b"...", "PROJECT": b"..."}`` to compound-file bytes."""
    root = Storage(clsid=root_clsid)
    for path, data in streams.items():
        root.add(path, data)
    return build_cfb(root)


def read_cfb(data: bytes) -> dict[str, bytes]:
    """Read every stream of a compound file as ``{"VBA/dir": bytes}`` (minimal, for tests).

    Handles only what :func:`build_cfb` writes plus ordinary files: v3/v4 headers with a header
    DIFAT, FAT chains and the mini stream. Raises ``ValueError`` on malformed input.
    """
    if data[:8] != SIGNATURE:
        raise ValueError("not a compound file")
    sector_size = 1 << struct.unpack_from("<H", data, 30)[0]
    n_fat, dir_start = struct.unpack_from("<II", data, 44)
    minifat_start, n_minifat = struct.unpack_from("<II", data, 60)
    fat_sectors = list(struct.unpack_from("<109I", data, 76)[:n_fat])

    def sector(index: int) -> bytes:
        offset = (index + 1) * sector_size
        if offset >= len(data):
            raise ValueError("sector beyond end of file")
        return data[offset : offset + sector_size]

    fat: list[int] = []
    for index in fat_sectors:
        fat.extend(struct.unpack(f"<{sector_size // 4}I", sector(index)))

    def chain(start: int, table: list[int]) -> list[int]:
        out: list[int] = []
        while start not in (ENDOFCHAIN, FREESECT):
            if start >= len(table) or len(out) > len(table):
                raise ValueError("broken sector chain")
            out.append(start)
            start = table[start]
        return out

    directory = b"".join(sector(s) for s in chain(dir_start, fat))
    raw = [directory[i : i + 128] for i in range(0, len(directory), 128)]
    minifat: list[int] = []
    if n_minifat:
        blob = b"".join(sector(s) for s in chain(minifat_start, fat))
        minifat = list(struct.unpack(f"<{len(blob) // 4}I", blob))
    root_start, root_size = struct.unpack_from("<IQ", raw[0], 116)
    mini_stream = b"".join(sector(s) for s in chain(root_start, fat))[:root_size]

    def entry(index: int) -> tuple[str, int, int, int, int, int, int]:
        rec = raw[index]
        name_len = struct.unpack_from("<H", rec, 64)[0]
        name = rec[: max(name_len - 2, 0)].decode("utf-16-le")
        kind = rec[66]
        left, right, child = struct.unpack_from("<III", rec, 68)
        start, size = struct.unpack_from("<IQ", rec, 116)
        return name, kind, left, right, child, start, size

    streams: dict[str, bytes] = {}

    def walk(index: int, prefix: str, seen: set[int]) -> None:
        if index == NOSTREAM:
            return
        if index in seen or index >= len(raw):
            raise ValueError("directory tree loop or bad index")
        seen.add(index)
        name, kind, left, right, child, start, size = entry(index)
        walk(left, prefix, seen)
        walk(right, prefix, seen)
        if kind == TYPE_STORAGE:
            walk(child, f"{prefix}{name}/", seen)
        elif kind == TYPE_STREAM:
            if size < MINI_STREAM_CUTOFF:
                sectors = chain(start, minifat) if size else []
                body = b"".join(mini_stream[s * 64 : s * 64 + 64] for s in sectors)
            else:
                body = b"".join(sector(s) for s in chain(start, fat))
            streams[prefix + name] = body[:size]

    walk(entry(0)[4], "", set())
    return streams
