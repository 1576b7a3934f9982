"""Mutation testing of the services against a suite, from a catalogue of named mutants."""
