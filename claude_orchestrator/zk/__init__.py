"""ZooKeeper coordination: connection, paths, registry, tasks, inboxes, context."""
