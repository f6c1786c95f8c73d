"""Hostile inputs: zip bombs, truncation, garbage, sparse oversized files."""

from __future__ import annotations

import io
import os
import time
import zipfile
import zlib
from pathlib import Path

import pytest

from samplegen import hostile


@pytest.mark.parametrize("length", [0, 1, 3, 1000, (1 << 20) + 7, 12_345_678])
def test_crc32_zeros_matches_zlib(length: int) -> None:
    assert hostile.crc32_zeros(length) == zlib.crc32(bytes(length))
    assert hostile.crc32_zeros(length, 0xDEADBEEF) == zlib.crc32(bytes(length), 0xDEADBEEF)


def test_zip_bomb_default_is_one_gib_and_small() -> None:
    start = time.perf_counter()
    data = hostile.zip_bomb()
    assert time.perf_counter() - start < 2.0
    assert len(data) < 5 << 20
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        (info,) = zf.infolist()
        assert info.file_size == 1 << 30
        assert info.compress_type == zipfile.ZIP_DEFLATED
        with zf.open(info) as member:
            assert member.read(1 << 20) == bytes(1 << 20)


def test_small_bomb_inflates_with_valid_crc() -> None:
    data = hostile.zip_bomb(16 << 20, members=3)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert len(zf.namelist()) == 3
        assert zf.testzip() is None  # inflates everything and checks every CRC


def test_zip64_bomb() -> None:
    data = hostile.zip_bomb(5 << 30)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        (info,) = zf.infolist()
        assert info.file_size == 5 << 30
        with zf.open(info) as member:
            assert member.read(4096) == bytes(4096)


def test_nested_zip_bomb() -> None:
    data = hostile.nested_zip_bomb(depth=10, fanout=16)
    assert len(data) < 1 << 20
    level = data
    for depth in range(10, 0, -1):
        with zipfile.ZipFile(io.BytesIO(level)) as zf:
            names = zf.namelist()
            assert len(names) == 16
            assert names[0] == f"level{depth:02d}_00.zip"
            level = zf.read(names[0])
    with zipfile.ZipFile(io.BytesIO(level)) as zf:
        assert zf.infolist()[0].file_size == 1 << 20


def test_truncated_and_garbage() -> None:
    assert hostile.truncated(b"0123456789", 0.3) == b"012"
    assert hostile.truncated(b"abc", 1.0) == b"abc"
    with pytest.raises(ValueError, match="frac"):
        hostile.truncated(b"abc", 1.5)
    assert hostile.garbage(64, seed=1) == hostile.garbage(64, seed=1)
    assert hostile.garbage(64, seed=1) != hostile.garbage(64, seed=2)
    assert len(hostile.garbage(1000)) == 1000


def test_oversized_file_is_sparse(tmp_path: Path) -> None:
    path = hostile.oversized_file(tmp_path / "huge.bin", 8 << 30)
    stat = path.stat()
    assert stat.st_size == 8 << 30
    if hasattr(stat, "st_blocks") and os.name == "posix":
        assert stat.st_blocks * 512 < 1 << 20
