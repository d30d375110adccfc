"""How tests/run shares its tests out between pytest-xdist workers (``-p tests.parallel``).

Every pass runs on both cores.  In-process tests go to whichever worker is free, one test at a
time: each has its own temporary directory and database.  An end-to-end module goes to one
worker whole, because its tests share what it starts once for the module (a systemd install, a
compose deployment, a stack with a directory, a browser tour's stack): split over two workers,
both would start it.  The session's stacks, dockerd and browser are per worker (each worker
starts what its tests need, on ports and directories of its own).

Modules that share something machine-wide are one unit together (:data:`SHARED`): the
deployment tests all run the dockerd whose data-root (the built images) is the persistent cache,
under one lock, so on two workers the second would only wait for the first.

Why our own scheduler: xdist's ``--dist loadgroup`` (``xdist_group`` marks) rewrites
``item._nodeid``, which pytest 9 no longer reads, so its groups silently fall apart; scopes
computed from the node id alone (xdist's loadscope scheduler, which this refines) do not
depend on that.
"""

from __future__ import annotations

import pytest
from xdist.scheduler import LoadScopeScheduling

E2E = "tests/e2e/"
#: Modules that run as one unit, in this order, on one worker (see the module's docstring).
SHARED = {
    "tests/e2e/test_compose.py": "cached-dockerd",
    "tests/e2e/test_container_docs.py": "cached-dockerd",
    "tests/e2e/test_kubernetes_pods.py": "cached-dockerd",
}


def unit_of(nodeid: str) -> str:
    """The unit a test is scheduled in: a shared group, its end-to-end module, or itself."""
    module = nodeid.split("::", 1)[0]
    if module in SHARED:
        return SHARED[module]
    if module.startswith(E2E):
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
