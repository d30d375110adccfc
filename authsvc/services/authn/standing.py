"""What the owner of a stand-in credential holds *now*: system administrator or not, and groups.

A personal token, a refresh or API token and a console session carry no password, so whatever
changed since it was made must be looked up again: for a local account its row says all; a
directory person's and an OIDC person's groups come from outside and count for at most
``credential_cache_ttl`` before their source is asked again (directory.py, oidc.py).  One
function for every verifier, so that a new identity source is one more branch here.
"""

from __future__ import annotations

from ...store.models import DIRECTORY_SOURCE, OIDC_SOURCE
from ..unit_of_work import UnitOfWork
from .directory import DirectoryAccounts
from .oidc import OidcAccounts


class AccountStanding:
    def __init__(self, directory: DirectoryAccounts, oidc: OidcAccounts):
        self.directory = directory
        self.oidc = oidc

    def of(self, uow: UnitOfWork, user) -> tuple[bool, frozenset[str]] | None:
        """(system administrator?, groups) for ``user`` (a row with ``id``, ``name``, ``source``,
        ``is_admin``, ``directory_groups``, ``groups_read_at``); None to refuse the credential."""
        if user.source == DIRECTORY_SOURCE:
            return self.directory.standing(uow, user)
        if user.source == OIDC_SOURCE:
            return self.oidc.standing(uow, user)
        return bool(user.is_admin), frozenset()
