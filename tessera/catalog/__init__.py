"""The shared core: settings, schema, queries, licences and consent rules."""
