"""``dmtl prepare``: download, verify, extract and check the real datasets (see ``command``)."""
