"""Pydantic API schemas (create/update/public); tables live in ``cluster/``."""
