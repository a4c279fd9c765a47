"""click commands: parse, call the core, print."""
