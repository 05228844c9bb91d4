"""``python -m dmtl``: the same command line as the ``dmtl`` console script."""

import sys

from dmtl.cli import console

if __name__ == "__main__":
    sys.exit(console())
