"""dmtl: DiffusionMTL multi-task dense prediction from partially annotated data."""

import os as _os

# albumentations checks PyPI for updates on every import; this package must run offline.
_os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

__version__ = "0.1.0"
