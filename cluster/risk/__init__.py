"""The risk engine's edge: its tables, the store that commits every transition before it is
acknowledged, the engine the ``RiskEngine`` actor hosts, and the snapshot view that Serve
replicas and the dispatcher read on the order path (rules: ``domain.risk``)."""
