"""The ``authsvc`` command: a thin click layer over the service layer.

Every command builds the app (settings from ``AUTHSVC_CONFIG`` and
``AUTHSVC_*``), runs inside its app context as the local ``OPERATOR``, and
turns any failure into one line on stderr and a non-zero exit status —
never a traceback.  The one exception is ``credential-provider``, which runs on Kubernetes
nodes without a database or settings and only speaks HTTP to authsvc.
"""

from __future__ import annotations

import click

from .admin import backup, db_group, init, restore, serve
from .audit import audit_group
from .credential_provider import credential_provider
from .doctor import doctor
from .inventory import repo_group, tag_group
from .keys import keys_group, registry_config
from .machines import pat_group, pull_secret, robot_group
from .people import member_group, project_group, user_group
from .tokens import token_group
from .trust import issuer_group


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="authsvc")
def main() -> None:
    """Access control for a container image registry (Docker token auth)."""


for command in (init, serve, db_group, backup, restore, user_group, project_group, member_group, token_group,
                keys_group, registry_config, audit_group, robot_group, pat_group, pull_secret,
                repo_group, tag_group, doctor, issuer_group, credential_provider):
    main.add_command(command)
