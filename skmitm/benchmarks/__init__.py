"""Benchmark commands: ``python -m skmitm.benchmarks.NAME``.

Each prints its figures and, for speed targets, the ratio against a baseline
measured in the same process, because the machines these run on are noisy.
"""
