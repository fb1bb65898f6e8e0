"""Account and API-key commands: ``users add|passwd|role|disable|enable|list|setup-link`` and
``keys create|revoke|list``.

Passwords are never command-line arguments (other users see those in ``ps``): they are asked for twice on a
terminal, or read as one line from standard input with ``--password-stdin``. A new API key is printed once.
"""

from __future__ import annotations

import getpass
import sys

from core.cli.common import actor_from, emit
from core.errors import FaceDashError
from core.services import keys, users


def _password(args) -> str:
    if getattr(args, "password_stdin", False):
        line = sys.stdin.readline()
        if not line:
            raise FaceDashError("--password-stdin: nothing on standard input")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise FaceDashError("no terminal to ask for the password: pipe it with --password-stdin")
    first = getpass.getpass(f"password for {args.username}: ")
    if getpass.getpass("again: ") != first:
        raise FaceDashError("the two passwords differ; nothing was changed")
    return first


def cmd_users_add(args, settings) -> int:
    account = users.add_user(settings, actor_from(args), args.username, args.role, _password(args))
    emit(args, account.public(), f"added {account.username} ({account.role})")
    return 0


def cmd_users_passwd(args, settings) -> int:
    account = users.set_password(settings, actor_from(args), args.username, _password(args))
    emit(args, account.public(), f"password of {account.username} changed")
    return 0


def cmd_users_role(args, settings) -> int:
    account = users.set_role(settings, actor_from(args), args.username, args.role)
    emit(args, account.public(), f"{account.username} is now {account.role}")
    return 0


def cmd_users_disable(args, settings) -> int:
    account = users.set_disabled(settings, actor_from(args), args.username, True)
    emit(args, account.public(), f"{account.username} disabled (cannot sign in)")
    return 0


def cmd_users_enable(args, settings) -> int:
    account = users.set_disabled(settings, actor_from(args), args.username, False)
    emit(args, account.public(), f"{account.username} enabled")
    return 0


def cmd_users_list(args, settings) -> int:
    found = users.list_users(settings, actor_from(args))
    emit(args, [a.public() for a in found],
         "\n".join(f"{a.username}\t{a.role}\t{'disabled' if a.disabled else 'active'}\tcreated {a.created_at} by "
                   f"{a.created_by}" for a in found) or "no accounts yet: `python -m core users setup-link`")
    return 0


def cmd_users_setup_link(args, settings) -> int:
    """A one-time link that creates the first admin (only while there is no account)."""
    from core.auth.setup import SETUP_TOKEN_HOURS, issue_setup_token, setup_link

    if not users.needs_setup(settings):
        emit(args, {"link": None}, "accounts exist already: an admin adds users (`python -m core users add`)")
        return 0
    link = setup_link(args.url or settings.public_url, issue_setup_token(settings))
    emit(args, {"link": link, "valid_hours": SETUP_TOKEN_HOURS},
         f"No account exists yet. Create the first admin here (valid {SETUP_TOKEN_HOURS} h, once):\n  {link}")
    return 0


def cmd_keys_create(args, settings) -> int:
    scopes = [s for s in args.scopes.split(",") if s.strip()]
    new = keys.create_key(settings, actor_from(args), args.name, scopes, args.expires_days)
    emit(args, {**new.key.public(), "key": new.secret},
         f"API key {new.key.key_id} ({new.key.name}; scopes {', '.join(new.key.scopes)}; expires "
         f"{new.key.expires_at or 'never'}). Copy it now, it is not shown again:\n{new.secret}")
    return 0


def cmd_keys_revoke(args, settings) -> int:
    key = keys.revoke_key(settings, actor_from(args), args.key_id)
    emit(args, key.public(), f"API key {key.key_id} ({key.name}) revoked")
    return 0


def cmd_keys_list(args, settings) -> int:
    found = keys.list_keys(settings, actor_from(args))
    emit(args, [k.public() for k in found],
         "\n".join(f"{k.key_id}\t{k.name}\t{','.join(k.scopes)}\t{k.state()}\texpires {k.expires_at or 'never'}"
                   for k in found) or "no API keys")
    return 0


def add_commands(sub, common) -> None:
    from core.auth.roles import ROLES, SCOPES

    p = sub.add_parser("users", parents=[common], help="dashboard accounts: add, passwd, role, disable, enable, "
                       "list, setup-link", description="Built-in dashboard accounts (docs/security.md).")
    usub = p.add_subparsers(dest="users_command", required=True)
    u = usub.add_parser("add", parents=[common], help="add an account (password asked, or --password-stdin)")
    u.add_argument("username")
    u.add_argument("--role", required=True, choices=ROLES)
    u.add_argument("--password-stdin", action="store_true", help="read the password as one line from stdin")
    u.set_defaults(func=cmd_users_add)
    u = usub.add_parser("passwd", parents=[common], help="set an account's password")
    u.add_argument("username")
    u.add_argument("--password-stdin", action="store_true", help="read the password as one line from stdin")
    u.set_defaults(func=cmd_users_passwd)
    u = usub.add_parser("role", parents=[common], help="change an account's role")
    u.add_argument("username")
    u.add_argument("role", choices=ROLES)
    u.set_defaults(func=cmd_users_role)
    for name, func in (("disable", cmd_users_disable), ("enable", cmd_users_enable)):
        u = usub.add_parser(name, parents=[common], help=f"{name} an account")
        u.add_argument("username")
        u.set_defaults(func=func)
    usub.add_parser("list", parents=[common], help="accounts and roles").set_defaults(func=cmd_users_list)
    u = usub.add_parser("setup-link", parents=[common], help="one-time link for the first admin (no account yet)")
    u.add_argument("--url", help="the dashboard's address (default: FACEDASH_PUBLIC_URL)")
    u.set_defaults(func=cmd_users_setup_link)

    p = sub.add_parser("keys", parents=[common], help="HTTP API keys: create, revoke, list")
    ksub = p.add_subparsers(dest="keys_command", required=True)
    k = ksub.add_parser("create", parents=[common], help="create a key (printed once)")
    k.add_argument("--name", required=True, help="who or what uses the key (audit log)")
    k.add_argument("--scopes", required=True, help=f"comma-separated: {', '.join(SCOPES)}")
    k.add_argument("--expires-days", type=int, help="lifetime in days (default: no expiry)")
    k.set_defaults(func=cmd_keys_create)
    k = ksub.add_parser("revoke", parents=[common], help="revoke a key by its id")
    k.add_argument("key_id")
    k.set_defaults(func=cmd_keys_revoke)
    ksub.add_parser("list", parents=[common], help="keys (never the keys themselves)").set_defaults(
        func=cmd_keys_list)
