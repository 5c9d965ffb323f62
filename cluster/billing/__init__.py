"""Billing at the edge: PayPal REST client, certificate fetcher, webhook verifier,
subscription repository and the entitlement service (issue 14)."""
