"""Where aptcatch keeps its data: ``$APTCATCH_DATA_DIR`` when set, else the platform's user data folder."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_dir

DATA_DIR_ENV = "APTCATCH_DATA_DIR"


def data_dir(override: Path | None = None) -> Path:
    """``override``, else ``$APTCATCH_DATA_DIR``, else the platform's user data folder."""
    if override is not None:
        return Path(override)
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env) if env else Path(user_data_dir("aptcatch", appauthor=False))
