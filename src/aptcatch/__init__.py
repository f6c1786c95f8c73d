"""aptcatch: catch APT spear-phishing lures, hunt their traces, attribute them with the evidence shown."""

from aptcatch.model.scan import SCAN_SCHEMA, ItemResult, ScanReport

__version__ = "0.1.0"

__all__ = ["SCAN_SCHEMA", "ItemResult", "ScanReport", "__version__"]
