"""What does no I/O: the request, catalog, configuration, mapping, routing, execution policy, response and errors."""
