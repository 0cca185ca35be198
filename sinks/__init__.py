"""The warehouse side: ClickHouse client from the DSN, migrations, the batching sink process
and the embedded read-only SQL endpoint."""
