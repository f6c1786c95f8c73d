"""Hunt: read logs into columnar tables, sweep them for known indicators, turn hits into evidence.

``readers`` turns each log file into one pyarrow table with normalised ECS-like columns; ``ioc`` joins
those tables against the knowledge base's indicators in DuckDB; ``output`` writes alerts, the summary
and the evidence document. See docs/hunt.md.
"""
