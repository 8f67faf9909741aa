"""The host agent: idempotent steps, a crash journal and the work loop."""
