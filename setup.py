"""Build hook beside pyproject.toml: the optional C accelerator of the Windows event and Squid readers.

Everything else about the package is declared in pyproject.toml. The extension is optional: where it
cannot be compiled (no compiler, no Python headers) the install goes on and the pure-Python reader
(``aptcatch.hunt.readers.winsegments.Batch``) is used instead.
"""

import sys

from setuptools import Extension, setup

_FLAGS = [] if sys.platform == "win32" else ["-O2", "-Wall", "-Wextra"]

_DIR = "src/aptcatch/hunt/readers/"
_SOURCES = ["_winfast.c", "_winfast_mem.c", "_winfast_text.c", "_winfast_ingest.c", "_winfast_build.c", "_winfast_squid.c"]

setup(
    ext_modules=[
        Extension(
            "aptcatch.hunt.readers._winfast",
            [_DIR + name for name in _SOURCES],
            depends=[_DIR + "_winfast.h"],
            extra_compile_args=_FLAGS,
            optional=True,
        )
    ]
)
