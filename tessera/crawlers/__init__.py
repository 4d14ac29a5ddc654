"""Sources: a local folder, Zenodo and the Internet Archive, behind one contract."""
