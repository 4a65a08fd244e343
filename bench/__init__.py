"""Benchmarks: certmgr side by side with its peers, run by hand (`make bench`), never in tests.

Each module ``bench/<topic>.py`` runs as ``python -m bench.<topic>``, measures certmgr and
the peer in the same run, prints ratios and writes ``bench/results/<topic>.json``.
"""
