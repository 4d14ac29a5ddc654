"""Consent: the only stage that changes consent state; every change runs the whole purge."""
