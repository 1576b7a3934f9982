"""Contract gates: checks that read the published contracts themselves, before or beside any running service."""
