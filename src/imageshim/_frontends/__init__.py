"""The ways in: the native client, the in-process transport, the wire handler and gateway, the CLI, and what they share (engine, orchestration, rendering)."""
