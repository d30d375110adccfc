"""The benchmarks are a command (``python -m tests.benchmarks``), not tests: collect nothing here."""

collect_ignore_glob = ["*.py"]
