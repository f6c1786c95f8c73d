"""Capture: static triage of lure e-mails and documents (``aptcatch scan``).

identify → analyse (format analysers, YARA) → extract children → recurse → chain findings → lure facts
→ verdict, all into one ``ItemResult``.
"""

from aptcatch.capture.engine import ScanConfig, Scanner
from aptcatch.capture.limits import Limits

__all__ = ["Limits", "ScanConfig", "Scanner"]
