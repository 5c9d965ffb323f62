"""Accounts capability: accounts, PII profiles and per-account configuration.

``service.AccountsService`` is the entry point; the auth service calls the repository
directly inside its own transaction when a registration creates the first account.
"""
