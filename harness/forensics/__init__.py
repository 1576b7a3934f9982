"""What a failing test leaves behind: a merged timeline, a bundle, the rerun command."""
