"""Contract gates: checks that read the published contracts themselves (breaking changes, the rule index and
its coverage), before or beside any running service."""
