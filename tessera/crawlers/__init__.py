"""Sources: a local folder, Zenodo and the Internet Archive, behind one contract.

- ``sources/``: one module per source, each a ``sources.base.Source`` (list records incrementally,
  get one in full, map its licence to SPDX, fetch a file). ``sources.names()`` is the registry.
- ``harvest``: the generic loop (failed records first, then the listing from its saved state).
- ``intake``: taking one record in (licence, opt-out, versions, files into the catalogue).
- ``files``: fetching one file into the cache (md5 checks, archives); ``archives``: safe extraction.
- ``http``: the polite client (rate limits, Retry-After, retries); ``summary``: what a crawl reports.
- ``cli``: ``tessera crawl zenodo|ia`` and ``tessera rejected``.
"""
