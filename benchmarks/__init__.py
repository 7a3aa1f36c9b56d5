"""Benchmarks and long runs, outside the default test run. Run each as a module of the
installed package from the repository root, e.g. ``python -m benchmarks.filter_bench``."""
