"""Every write to transforms: projects and their files (``projects``), runs (``runs``)
and dbt installs (``installs``)."""
