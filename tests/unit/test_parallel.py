"""tests/parallel.py: how the passes share tests out between pytest-xdist workers."""

from __future__ import annotations

from pathlib import Path

from tests import parallel

REPO = Path(__file__).resolve().parents[2]


def test_an_in_process_test_is_a_unit_of_its_own():
    assert parallel.unit_of("tests/http/test_api_users.py::test_x[a]") == "tests/http/test_api_users.py::test_x[a]"


def test_an_end_to_end_module_with_a_fixture_of_its_own_is_one_unit_whatever_its_parameters():
    ids = ["tests/e2e/test_doctor.py::test_a[registry2]", "tests/e2e/test_doctor.py::test_b[registry3]"]
    assert {parallel.unit_of(i) for i in ids} == {"tests/e2e/test_doctor.py"}


def test_an_end_to_end_test_on_the_session_stack_alone_is_a_unit_of_its_own():
    assert parallel.unit_of("tests/e2e/test_robots.py::test_a[registry2]") == "tests/e2e/test_robots.py::test_a[registry2]"


def test_every_module_on_the_cached_dockerd_is_in_the_one_shared_unit():
    """The modules that take the image cache's lock (tests/e2e/deployment.py) are exactly SHARED:
    a new one left out would wait for that lock on the other worker."""
    users = {f"tests/e2e/{path.name}" for path in (REPO / "tests" / "e2e").glob("test_*.py")
             if "CachedDockerd(" in path.read_text()}
    assert users == set(parallel.SHARED)
    assert {parallel.unit_of(f"{module}::test_x") for module in users} == {"cached-dockerd"}
