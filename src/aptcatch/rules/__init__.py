"""Rules shipped with aptcatch: YARA rules for exploit structures (``yara/``), Sigma rules for lure
delivery chains (``sigma/``), and the installer of third-party Sigma rule sets (``sigma_store``)."""
