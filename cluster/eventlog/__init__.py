"""The durable event log: events written with the change that produced them, relayed to
Redis Streams, and read back from PostgreSQL when Redis no longer holds them."""
