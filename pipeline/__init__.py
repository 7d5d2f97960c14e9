"""The event contract, the bus, and the normalizer and indexer workers."""
