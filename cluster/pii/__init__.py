"""PII at rest: data keys wrapped by a key-encryption key (local or Vault transit), the
key ring with rotation and retirement, the blind index of emails, and the backfill and
re-encryption passes. The cipher that fields go through is ``cluster.accounts.cipher``."""
