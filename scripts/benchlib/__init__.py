"""The sections of ``scripts/bench.py``, a module each, and what they share (see its docstring)."""
