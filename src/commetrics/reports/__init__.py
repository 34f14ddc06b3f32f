"""Turn results into text, JSON and HTML; the CLI, the service and written reports share these."""
