"""The MS-CFB writer: layout, red-black directory tree, mini stream, olefile acceptance."""

from __future__ import annotations

import struct

import pytest

from samplegen.cfb import (
    BLACK,
    NOSTREAM,
    RED,
    SECTOR_SIZE,
    Storage,
    build_cfb,
    build_cfb_from_paths,
    clsid_bytes,
    read_cfb,
)

EQUATION = "{0002CE02-0000-0000-C000-000000000046}"


def _sample() -> tuple[Storage, dict[str, bytes]]:
    root = Storage(clsid=clsid_bytes(EQUATION))
    expected = {
        "PROJECT": b"ID=1\r\n" * 10,
        "PROJECTwm": b"w" * 4096,  # exactly the cutoff: a regular stream
        "Empty": b"",
        "VBA/dir": bytes(range(256)) * 3,
        "VBA/Big": bytes(range(251)) * 60,
        "VBA/Sub/Deep": b"deep",
    }
    for index in range(12):
        expected[f"VBA/Module{index}"] = bytes([index]) * (97 * index + 1)
    for path, data in expected.items():
        root.add(path, data)
    return root, expected


def _directory(data: bytes) -> list[tuple[str, int, int, int, int, int]]:
    """(name, type, color, left, right, child) of every used directory entry."""
    dir_start = struct.unpack_from("<I", data, 48)[0]
    fat: list[int] = []
    n_fat = struct.unpack_from("<I", data, 44)[0]
    for index in struct.unpack_from("<109I", data, 76)[:n_fat]:
        off = (index + 1) * SECTOR_SIZE
        fat.extend(struct.unpack_from("<128I", data, off))
    raw = b""
    sector = dir_start
    while sector < 0xFFFFFFFA:
        raw += data[(sector + 1) * SECTOR_SIZE : (sector + 2) * SECTOR_SIZE]
        sector = fat[sector]
    out = []
    for pos in range(0, len(raw), 128):
        rec = raw[pos : pos + 128]
        size = struct.unpack_from("<H", rec, 64)[0]
        left, right, child = struct.unpack_from("<III", rec, 68)
        out.append(
            (rec[: size - 2].decode("utf-16-le") if size else "", rec[66], rec[67], left, right, child)
        )
    return out


def _key(name: str) -> tuple[int, str]:
    return len(name), name.upper()


def _check_tree(entries: list[tuple[str, int, int, int, int, int]], node: int) -> tuple[int, list[str]]:
    """Return (black height, in-order names) and assert the red-black/BST invariants."""
    if node == NOSTREAM:
        return 1, []
    name, _kind, color, left, right, _child = entries[node]
    assert color in (RED, BLACK)
    if color == RED:
        for kid in (left, right):
            assert kid == NOSTREAM or entries[kid][2] == BLACK, "red node with a red child"
    lh, lnames = _check_tree(entries, left)
    rh, rnames = _check_tree(entries, right)
    assert lh == rh, "unequal black heights"
    return lh + (color == BLACK), [*lnames, name, *rnames]


def test_roundtrip_with_stdlib_reader() -> None:
    root, expected = _sample()
    data = build_cfb(root)
    assert data[:8] == bytes.fromhex("D0CF11E0A1B11AE1")
    assert len(data) % SECTOR_SIZE == 0
    assert read_cfb(data) == expected


def test_directory_is_valid_red_black_tree_in_cfb_order() -> None:
    root, _ = _sample()
    entries = _directory(build_cfb(root))
    assert entries[0][0] == "Root Entry"
    assert entries[0][1] == 5
    storages = [i for i, e in enumerate(entries) if e[1] in (1, 5)]
    assert len(storages) == 3
    for index in storages:
        child = entries[index][5]
        assert entries[child][2] == BLACK, "tree root must be black"
        _, names = _check_tree(entries, child)
        assert names == sorted(names, key=_key)


def test_red_black_for_many_sibling_counts() -> None:
    for count in range(1, 40):
        data = build_cfb_from_paths({f"S{'x' * (i % 5)}{i}": b"a" for i in range(count)})
        entries = _directory(data)
        _, names = _check_tree(entries, entries[0][5])
        assert len(names) == count


def test_rejects_bad_names() -> None:
    with pytest.raises(ValueError, match="invalid"):
        build_cfb_from_paths({"x" * 32: b""})
    with pytest.raises(ValueError, match="invalid"):
        build_cfb_from_paths({"a!b": b""})


def test_olefile_opens_without_any_defect() -> None:
    olefile = pytest.importorskip("olefile")
    root, expected = _sample()
    ole = olefile.OleFileIO(build_cfb(root), raise_defects=olefile.DEFECT_UNSURE)
    assert ole.parsing_issues == []
    assert ole.root.clsid == EQUATION.strip("{}")
    for path, data in expected.items():
        assert ole.openstream(path).read() == data
        assert ole.get_size(path) == len(data)
    assert ole.get_type("VBA/Sub") == olefile.STGTY_STORAGE
    # the FAT, mini FAT and directory checks of olefile ran: every stream was reachable
    assert sorted("/".join(p) for p in ole.listdir()) == sorted(expected)
