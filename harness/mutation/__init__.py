"""Mutation testing of the services against a suite, from a catalogue of mutants that each break one named
rule of the contracts (the rule index: harness/gates/rules.py)."""
