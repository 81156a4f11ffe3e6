"""imageshim scan: find the calls and model ids a retirement breaks, and say what would change."""
