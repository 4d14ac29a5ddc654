"""Where ``tessera add`` and the tests outside the crawlers import the folder source from.

Kept so the lead's modules (tessera/cli.py) need no change; the source lives in ``sources/folder.py``.
"""

from tessera.crawlers.sources.folder import AddReport, FolderError, add_folder

__all__ = ["AddReport", "FolderError", "add_folder"]
