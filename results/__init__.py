"""The result record schema, its atomic store, and loading with quarantine."""
