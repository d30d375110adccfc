"""Authentication: who is calling, from which credential -- kept apart from authorization.

One verifier per kind of credential (``password``, ``robot``, ``personal_token``,
``refresh_token``, ``bearer``), each turning a presented credential into an
:class:`~.identity.Identity` or nothing; :class:`~.chain.Authenticator` runs them.
``core.policy`` decides what the identity may do and never sees a secret.
"""

from .chain import Authenticator
from .identity import (
                       ANONYMOUS_IDENTITY,
                       BearerTokenPresented,
                       Credential,
                       Identity,
                       NameAndSecret,
                       RefreshTokenPresented,
)
from .throttle import Throttled

__all__ = ["ANONYMOUS_IDENTITY", "Authenticator", "BearerTokenPresented", "Credential", "Identity",
           "NameAndSecret", "RefreshTokenPresented", "Throttled"]
