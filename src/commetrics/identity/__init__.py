"""Identity resolution: community members and CRM contacts linked into people."""
