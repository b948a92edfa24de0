"""The connector catalog: the registry file the console ships and how it is merged."""
