"""Orders capability: persistence, the order service, the ledger in SQL, reconciliation.

``service.OrderService`` is the one entry point; ``wire.order_to_wire`` is the wire form
the REST layer and the gateway share.
"""
