"""Provider plumbing: the adapter registry, the HTTP helpers and connection pool, and the drivers that perform the execution policy's I/O."""
