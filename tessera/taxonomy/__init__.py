"""Groupings proposed from sound (UMAP + HDBSCAN), explained in plain words, named by communities.

Pure cores: ``cluster`` (embedding and clustering), ``explain`` (what sets a cluster apart),
``identity`` (matching clusters across runs), ``skos`` (concept scheme export). ``service``
ties them to the catalogue; all queries live in ``tessera.taxonomy.store``.
"""
