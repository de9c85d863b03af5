"""graphflow's benchmarks against its peers: ``python -m benchmarks`` prints one table.

Each measured case lives in one module of :mod:`benchmarks.cases`; :mod:`benchmarks.harness`
times them (median of repeats after warm-up), :mod:`benchmarks.report` prints the table and
writes ``results/latest.json`` and ``results/latest.png``. See ``docs/performance.md``.
"""
