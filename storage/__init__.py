"""Where tilts keeps its state besides the bus and the index: one SQL schema
(SQLAlchemy Core) for subscriptions, crawl runs, coverage snapshots and leases."""
