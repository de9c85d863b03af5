"""Tools for testing what is built on graphflow: :mod:`graphflow.testing.store_contract` (the Store contract suite).

Importing this package imports nothing heavy; its modules need ``pytest`` (``pip install 'graphflow[dev]'``).
"""
