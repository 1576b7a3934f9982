"""pytest integration for every boundary suite: options, shards, durations, the sweep."""
