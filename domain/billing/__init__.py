"""Plans, entitlements, subscriptions and PayPal webhook rules (issue 14): pure data and
rules, no I/O. The edge (``cluster/billing``) fetches, verifies and stores."""
