"""Harmless sample generator for aptcatch: files with the *structure* of APT lures.

Run ``python -m samplegen OUTDIR``. Only the standard library is used; hosts are reserved names
or TEST-NET addresses and nothing generated is executable.
"""

from samplegen.build import EXAMPLES, build_all, build_bytes

__all__ = ["EXAMPLES", "build_all", "build_bytes"]
