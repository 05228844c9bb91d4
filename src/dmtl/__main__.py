"""``python -m dmtl``: the same command line as the ``dmtl`` console script."""

from dmtl.cli import main

if __name__ == "__main__":
    main()
