"""The JSON API and the web page, built by ``create_app(settings)``."""
