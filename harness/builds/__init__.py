"""Builds: the services from the Go workspace (content-hash cache, any git ref) and the pinned Go tools."""
