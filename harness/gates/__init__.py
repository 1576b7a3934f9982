"""Static contract gates: breaking changes of the published contracts."""
