"""Rules shipped with aptcatch (data only): YARA rules for exploit structures."""
