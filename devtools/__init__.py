"""Development and demo tooling: real Kafka, Elasticsearch and PostgreSQL on
127.0.0.1 (`services`), the Elasticsearch analysis plugin source, the static
demo site and the replay of real sources."""
