"""claude-orchestrator: a supervised team of coding agents coordinated through ZooKeeper."""

__version__ = "0.1.0"
