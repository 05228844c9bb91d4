"""``dmtl bench``: a grid of methods x label settings x seeds, run resumably and reported paired.

``spec`` reads the grid spec, ``commands`` builds a cell's ``dmtl fit``/``dmtl test``, ``cell``
runs one cell, ``runner`` the grid, ``slurm`` submits it as a SLURM array, ``results`` reads the
finished cells and computes the statistics, ``curves`` reads the validation curves, ``report``
writes the tables and ``plots`` draws them; ``command`` is the command line (docs/bench.md).
"""
