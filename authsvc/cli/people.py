"""Users, projects and members: the commands an administrator scripts against."""

from __future__ import annotations

import click

from ..core.policy import OPERATOR, Role
from ..services.access import accounts, project_groups, projects
from .common import emit, json_option, read_password, with_app

ROLE_CHOICE = click.Choice([r.value for r in Role])
password_stdin = click.option("--password-stdin", is_flag=True,
                              help="Read the password from one line of standard input.")
yes_option = click.option("--yes", is_flag=True, help="Do not ask for confirmation.")


# -- users ------------------------------------------------------------------

@click.group("user")
def user_group() -> None:
    """User accounts."""


@user_group.command("create")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Make the user a system administrator.")
@click.option("--yes", is_flag=True, help="Create it even if a directory person (who has not signed in yet) "
                                          "has this name: they are locked out while it exists.")
@password_stdin
@with_app
def user_create(uow, name: str, admin: bool, yes: bool, password_stdin: bool) -> None:
    """Create a user (password from a prompt or --password-stdin, never from the command line)."""
    accounts.check_new_user_name(uow, name)  # refuse a bad or taken name before asking for a password
    accounts.check_directory_name(uow, name, take=yes)  # and a directory person's, unless --yes
    password = read_password(password_stdin)
    made = accounts.create_account(uow, OPERATOR, name, password, is_admin=admin, take_directory_name=yes)
    click.echo(f"created user {name}{' (system administrator)' if admin else ''}")
    if made.warning:
        click.echo(f"warning: {made.warning}", err=True)


@user_group.command("list")
@json_option
@with_app
def user_list(uow, as_json: bool) -> None:
    """List users."""
    emit([accounts.user_summary(u) for u in accounts.list_users(uow, OPERATOR)[0]], as_json,
         ["name", "admin", "active", "source", "created_at"])


@user_group.command("passwd")
@click.argument("name")
@password_stdin
@with_app
def user_passwd(uow, name: str, password_stdin: bool) -> None:
    """Set a user's password; their refresh tokens stop working at once."""
    # Fail before prompting for a password of a user that does not exist, or is a directory account.
    accounts.require_local_password(accounts.get_user(uow, name))
    password = read_password(password_stdin)
    accounts.set_password(uow, OPERATOR, name, password)
    click.echo(f"password of {name} changed; existing logins must log in again")


@user_group.command("update")
@click.argument("name")
@click.option("--admin/--no-admin", default=None, help="Grant or remove system administration.")
@click.option("--active/--inactive", default=None, help="Re-enable or disable the account.")
@with_app
def user_update(uow, name: str, admin: bool | None, active: bool | None) -> None:
    """Change a user's administrator or active flag."""
    user = accounts.update_user(uow, OPERATOR, name, is_admin=admin, is_active=active)
    click.echo(f"{user.name}: admin={str(user.is_admin).lower()} active={str(user.is_active).lower()}")


@user_group.command("delete")
@click.argument("name")
@yes_option
@with_app
def user_delete(uow, name: str, yes: bool) -> None:
    """Delete a user with their memberships and refresh tokens."""
    accounts.get_user(uow, name)
    if not yes:
        click.confirm(f"Delete user {name} and all their memberships?", abort=True)
    accounts.delete_user(uow, OPERATOR, name)
    click.echo(f"deleted user {name}")


# -- projects ---------------------------------------------------------------

@click.group("project")
def project_group() -> None:
    """Projects: groups of repositories with one visibility and one member list."""


@project_group.command("create")
@click.argument("name")
@click.option("--public", is_flag=True, help="Anyone may pull (members still needed to push).")
@click.option("--owner", help="User who becomes the project's Project Admin.")
@with_app
def project_create(uow, name: str, public: bool, owner: str | None) -> None:
    """Create a project (private unless --public)."""
    projects.create_project(uow, OPERATOR, name, public=public, owner=owner)
    click.echo(f"created {'public' if public else 'private'} project {name}"
               + (f" with {owner} as Project Admin" if owner else ""))


@project_group.command("list")
@json_option
@with_app
def project_list(uow, as_json: bool) -> None:
    """List projects."""
    emit([projects.project_summary(p) for p, _ in projects.list_projects(uow, OPERATOR)], as_json,
         ["name", "public", "created_at"])


@project_group.command("set-visibility")
@click.argument("name")
@click.argument("visibility", type=click.Choice(["public", "private"]))
@with_app
def project_set_visibility(uow, name: str, visibility: str) -> None:
    """Make a project public or private."""
    projects.set_visibility(uow, OPERATOR, name, visibility == "public")
    click.echo(f"project {name} is now {visibility}")


@project_group.command("delete")
@click.argument("name")
@yes_option
@with_app
def project_delete(uow, name: str, yes: bool) -> None:
    """Delete a project and its memberships (images stay in registry storage, unreachable)."""
    projects.get_project(uow, OPERATOR, name)
    if not yes:
        click.confirm(f"Delete project {name}? Its images become unreachable.", abort=True)
    projects.delete_project(uow, OPERATOR, name)
    click.echo(f"deleted project {name}")


@project_group.command("release-name")
@click.argument("name")
@yes_option
@with_app
def project_release_name(uow, name: str, yes: bool) -> None:
    """Allow NAME, once a deleted project's, to be used again.

    Do this only after removing the deleted project's images from the registry
    (delete <storage>/docker/registry/v2/repositories/NAME, then run the registry's
    garbage-collect): a new project of the same name would otherwise hand them to its members.
    """
    if not yes:
        click.confirm(f"Have the images of the deleted project {name} been removed from the registry?",
                      abort=True)
    projects.release_name(uow, OPERATOR, name)
    click.echo(f"the name {name} can be used again")


# -- members ----------------------------------------------------------------

@click.group("member")
def member_group() -> None:
    """Project members and their roles (admin, maintainer, developer, guest)."""


@member_group.command("add")
@click.argument("project")
@click.argument("user")
@click.option("--role", type=ROLE_CHOICE, required=True)
@with_app
def member_add(uow, project: str, user: str, role: str) -> None:
    """Make USER a member of PROJECT."""
    projects.add_member(uow, OPERATOR, project, user, role)
    click.echo(f"{user} is now {role} of {project}")


@member_group.command("list")
@click.argument("project")
@json_option
@with_app
def member_list(uow, project: str, as_json: bool) -> None:
    """List the members of PROJECT: people, then directory groups."""
    rows = [{"user": m.user, "role": m.role.value} for m in projects.list_members(uow, OPERATOR, project)]
    groups = [{"group": g.group, "role": g.role.value}
              for g in project_groups.list_group_members(uow, OPERATOR, project)]
    if as_json:
        emit(rows + groups, True, [])
    else:
        emit([{"user": r["user"], "group": None, "role": r["role"]} for r in rows]
             + [{"user": None, "group": g["group"], "role": g["role"]} for g in groups], False,
             ["user", "group", "role"])


@member_group.command("add-group")
@click.argument("project")
@click.argument("group")
@click.option("--role", type=ROLE_CHOICE, required=True)
@with_app
def member_add_group(uow, project: str, group: str, role: str) -> None:
    """Make the directory group GROUP (its cn) a member of PROJECT: everyone in it holds ROLE."""
    member = project_groups.add_group_member(uow, OPERATOR, project, group, role)
    click.echo(f"group {member.group} is now {role} of {project}")
    if member.warning:
        click.echo(f"warning: {member.warning}", err=True)


group_flag = click.option("--group", "is_group", is_flag=True, help="USER names a directory group.")


@member_group.command("set-role")
@click.argument("project")
@click.argument("user")
@click.argument("role", type=ROLE_CHOICE)
@group_flag
@with_app
def member_set_role(uow, project: str, user: str, role: str, is_group: bool) -> None:
    """Change USER's (or, with --group, a group's) role in PROJECT."""
    if is_group:
        user = "group " + project_groups.set_group_role(uow, OPERATOR, project, user, role).group
    else:
        projects.set_role(uow, OPERATOR, project, user, role)
    click.echo(f"{user} is now {role} of {project}")


@member_group.command("remove")
@click.argument("project")
@click.argument("user")
@group_flag
@with_app
def member_remove(uow, project: str, user: str, is_group: bool) -> None:
    """Remove USER (or, with --group, a directory group) from PROJECT."""
    if is_group:
        project_groups.remove_group_member(uow, OPERATOR, project, user)
        user = f"group {user.lower()}"
    else:
        projects.remove_member(uow, OPERATOR, project, user)
    click.echo(f"removed {user} from {project}")
