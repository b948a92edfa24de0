"""dbt projects that run against a workspace's destinations, after syncs or alone."""
