"""The galaxy integration harness: processes, stubs and pytest glue, knowing nothing of scenarios."""
