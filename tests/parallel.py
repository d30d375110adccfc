"""How tests/run shares its tests out between pytest-xdist workers (``-p tests.parallel``).

Every pass runs on both cores.  A test goes to whichever worker is free, one test at a time --
each has its own temporary directory and database, and the session's stacks, dockerd and
browser are per worker (each worker starts what its tests need, on ports and directories of its
own) -- except an end-to-end module with a module- or session-scoped fixture of its own (a
systemd install, a compose deployment, a stack with a directory, a rotation stack): it goes to
one worker whole, since split over two workers both would start it.  Other end-to-end modules
stay spread test by test, so that a worker runs its tests of one registry generation together
(pytest orders the items so) and starts each generation's stack about once.

Modules that share something machine-wide are one unit together (:data:`SHARED`): the
deployment tests all run the dockerd whose data-root (the built images) is the persistent cache,
under one lock, so on two workers the second would only wait for the first.

Why our own scheduler: xdist's ``--dist loadgroup`` (``xdist_group`` marks) rewrites
``item._nodeid``, which pytest 9 no longer reads, so its groups silently fall apart; scopes
computed from the node id alone (xdist's loadscope scheduler, which this refines) do not
depend on that.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling

E2E = "tests/e2e/"
REPO = Path(__file__).resolve().parents[1]
#: A fixture the module defines for the module or the whole session.
_OWN_WIDE_FIXTURE = re.compile(r'@pytest\.fixture\([^)]*scope="(module|session)"')
#: Modules that run as one unit, in this order, on one worker (see the module's docstring).
SHARED = {
    "tests/e2e/test_compose.py": "cached-dockerd",
    "tests/e2e/test_container_docs.py": "cached-dockerd",
    "tests/e2e/test_kubernetes_pods.py": "cached-dockerd",
}


@functools.cache
def has_wide_fixture(module: str) -> bool:
    """Whether the module defines a module- or session-scoped fixture (read from its source)."""
    try:
        return bool(_OWN_WIDE_FIXTURE.search((REPO / module).read_text()))
    except OSError:
        return False


def unit_of(nodeid: str) -> str:
    """The unit a test is scheduled in: a shared group, its end-to-end module, or itself."""
    module = nodeid.split("::", 1)[0]
    if module in SHARED:
        return SHARED[module]
    if module.startswith(E2E) and has_wide_fixture(module):
        return module
    return nodeid


class ModuleUnitScheduling(LoadScopeScheduling):
    """xdist's loadscope scheduler (largest units first, each unit on one worker, in collection
    order) over the units of :func:`unit_of`."""

    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid)


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    return ModuleUnitScheduling(config, log)
