"""The web page served by the API (static files)."""
