"""Storage: the tables, schema migrations, and the few queries the token path needs."""

from .models import Membership, Project, RefreshToken, User, db  # noqa: F401
