"""Store revisions, oldest first: 0001 is the schema as it was before migrations (commit ed0bdf3)."""
