"""The warehouse side: ClickHouse client from the DSN, the tables and migrations, the
batching sink and the embedded read-only SQL endpoint."""
