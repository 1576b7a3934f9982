"""Processes: a service binary as a supervised OS process, ports, the sweep of leftovers."""
