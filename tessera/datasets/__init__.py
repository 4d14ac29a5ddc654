"""Datasets: licence summaries and exports (manifest, attribution, datasheet, Croissant, AudioFolder, fetch)."""
