"""TIMING TEST (issue 20, finding 2): a refused password costs the same whatever the account.

After ``bcrypt_rounds`` is raised, stored hashes keep their old cost until their owner signs in,
so a population of mixed costs is the normal state for months.  A refusal must not tell an
unknown name from a known one, nor a known one whose hash has the new cost from one whose hash
has the old: the verifier brings every refusal up to one bcrypt check at the highest cost in use
(services/authn/password.py, RefusalCost).

Measured, as the issue asks, as medians over 50 tries each, interleaved in a shuffled order so
that a drift in the machine's load hits every kind alike; costs 4 (~1 ms) and 8 (~13 ms) keep the
test to a few seconds while bcrypt still dominates each try.  Before the fix a wrong password for
a cost-8 account took about ten times as long as an unknown name.
"""

from __future__ import annotations

import random
import statistics
import time

import pytest
from sqlalchemy import update

from authsvc.core.policy import OPERATOR
from authsvc.services.access import accounts
from authsvc.services.authn import NameAndSecret
from authsvc.services.authn.passwords import hash_password
from authsvc.services.errors import Unauthorized
from authsvc.store.models import User
from tests.services.conftest import Units

OLD_COST, NEW_COST = 4, 8
TRIES = 50
TOLERANCE = 1.15

pytestmark = pytest.mark.timing


@pytest.fixture
def mixed_costs(tmp_path):
    """Accounts from before the cost was raised (cost 4, the majority), accounts created since
    (cost 8), and a disabled old one; bcrypt_rounds is now 8."""
    units = Units(tmp_path, bcrypt_rounds=NEW_COST, throttle_threshold=0)
    for n in range(4):
        units.run(accounts.create_user, OPERATOR, f"old{n}", f"old-password-{n}")
    units.run(accounts.create_user, OPERATOR, "gone", "gone-password-1")
    units.run(accounts.update_user, OPERATOR, "gone", is_active=False)
    with units.new().committing() as work:  # as a release with bcrypt_rounds = 4 stored them
        for name in ("old0", "old1", "old2", "old3", "gone"):
            work.session.execute(update(User).where(User.name == name).values(
                password_hash=hash_password("whatever-it-was", OLD_COST)))
    for n in range(2):
        units.run(accounts.create_user, OPERATOR, f"new{n}", f"new-password-{n}")
    yield units
    units.close()


def _refusal_seconds(units: Units, name: str) -> float:
    work = units.new()
    started = time.perf_counter()
    with pytest.raises(Unauthorized):
        work.context.authenticator.authenticate(work, NameAndSecret(name, "not-the-password"))
    elapsed = time.perf_counter() - started
    work.rollback()
    return elapsed


def test_a_refusal_costs_the_same_for_unknown_names_and_every_hash_cost(mixed_costs):
    kinds = {"unknown name": "nobody-here", "old-cost account": "old1", "new-cost account": "new0",
             "disabled account": "gone"}
    for name in kinds.values():  # warm-up: the dummy hashes are made on first use
        _refusal_seconds(mixed_costs, name)
    samples: dict[str, list[float]] = {kind: [] for kind in kinds}
    order = list(kinds)
    shuffle = random.Random(20).shuffle
    for _ in range(TRIES):
        shuffle(order)
        for kind in order:
            samples[kind].append(_refusal_seconds(mixed_costs, kinds[kind]))
    medians = {kind: statistics.median(values) for kind, values in samples.items()}
    shown = ", ".join(f"{kind} {seconds * 1000:.1f} ms" for kind, seconds in medians.items())
    assert max(medians.values()) / min(medians.values()) < TOLERANCE, f"medians: {shown}"
