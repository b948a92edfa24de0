"""dbt itself: installing it, running it, reading what it wrote.

Plain code: no Django models here. ``install`` builds one virtualenv per adapter
under ``settings.DBT_DIR``; ``invoke`` runs one dbt command against a project
folder with a throwaway profiles.yml; ``artifacts`` turns dbt's run_results.json
and manifest.json into the small dicts the console stores.
"""
