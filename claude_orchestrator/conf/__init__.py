"""Configuration: team.toml and config.json loading, validation, defaults."""
