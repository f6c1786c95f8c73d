"""Timeline helpers."""

from __future__ import annotations


def test_report_month_from_attack_citation_names() -> None:
    from aptcatch.knowledge.analysis import report_month

    assert report_month("Cisco Talos Bitter Bangladesh May 2022 <https://x.test/a>") == "2022-05"
    assert report_month("Forcepoint BITTER Pakistan Oct 2016") == "2016-10"
    assert report_month("DBAPPSecurity BITTER zero-day Feb 2021") == "2021-02"
    assert report_month("Some vendor blog") == ""
