"""Network faults between the parts of a stack: a real TCP fault proxy (toxiproxy)."""
