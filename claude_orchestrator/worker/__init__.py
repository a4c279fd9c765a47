"""The worker loop (arrives with the worker runtime)."""
