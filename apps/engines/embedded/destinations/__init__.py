"""The console's own destinations for the embedded engine: PostgreSQL and DuckDB."""
