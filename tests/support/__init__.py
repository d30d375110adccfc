"""Helpers the test suites share: plain functions and classes, never fixtures.

Fixtures stay in the ``conftest.py`` files (pytest finds them there); what a test module needs
to *call* lives here, so that no test module imports another one for its helpers.
"""
