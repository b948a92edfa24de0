"""The connector catalog: the registry file the console ships and how it is merged,
and the catalog page, CLI, reads and writes that install and uninstall connectors.
"""
