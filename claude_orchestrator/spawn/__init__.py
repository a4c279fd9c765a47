"""Child processes: start, stream, stop (arrives with the worker runtime)."""
