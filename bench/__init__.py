"""Benchmarks (``python -m bench``): measured ratios and counts, printed next to their goals.

Not tests: nothing here is collected by pytest and nothing fails unless
``--strict`` is given. See bench/README.md.
"""
