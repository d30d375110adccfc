"""The benchmark suite of issue #3: ``.venv/bin/python -m tests.benchmarks [--quick] [--only NAME]``.

Not part of the test run: nothing here is named ``test_*.py`` (and conftest.py
tells pytest to collect nothing here).  tests/e2e/test_benchmark_smoke.py runs
``--quick --only tokens`` so the suite does not rot.  Results and method:
docs/performance.md.
"""
