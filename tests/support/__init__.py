"""Helpers the test suites share (not fixtures: those stay in conftest.py files)."""
