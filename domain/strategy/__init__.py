"""Strategy instances as pure rules: their settings, guarded promotion, version history
arithmetic and the drift rule. No I/O: ``cluster.strategies`` stores, the actor serializes."""
