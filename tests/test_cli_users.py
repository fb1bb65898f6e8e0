"""``python -m core users`` and ``keys`` as an operator runs them: real processes for the password prompts, the
accounts and keys files in a temp data folder, one clear error and no change on bad input."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys

import pytest

from tests.accounts import PASSWORD
from tests.conftest import REPO, snapshot


@pytest.fixture
def data(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    monkeypatch.setenv("FACEDASH_DATA_DIR", str(folder))
    return folder


def cli(data, *argv, stdin: str | None = None, tty: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "FACEDASH_DATA_DIR": str(data), "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "core", *argv], cwd=REPO, env=env, input=stdin, text=True,
                          capture_output=True, timeout=120)


def test_setup_link_only_while_there_is_no_account(data):
    first = cli(data, "users", "setup-link", "--url", "http://dash.example:8501")
    assert first.returncode == 0 and "http://dash.example:8501/?setup=" in first.stdout
    token = first.stdout.split("?setup=")[1].split()[0]
    assert token not in (data / "auth" / "setup.json").read_text()
    added = cli(data, "users", "add", "ada", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    assert added.returncode == 0 and added.stdout.strip() == "added ada (admin)"
    assert not (data / "auth" / "setup.json").exists()  # the link stops working once an account exists
    again = cli(data, "users", "setup-link")
    assert again.returncode == 0 and "accounts exist already" in again.stdout


def test_users_lifecycle_is_audited_and_never_holds_a_password(data):
    assert cli(data, "users", "add", "ada", "--role", "admin", "--password-stdin", stdin=PASSWORD).returncode == 0
    assert cli(data, "users", "add", "bob", "--role", "manager", "--password-stdin", stdin=PASSWORD).returncode == 0
    assert cli(data, "--actor", "it-ops", "users", "role", "bob", "hr").returncode == 0
    assert cli(data, "users", "disable", "bob").returncode == 0
    listed = json.loads(cli(data, "users", "list", "--json").stdout)
    assert [(u["username"], u["role"], u["disabled"]) for u in listed] == [("ada", "admin", False),
                                                                         ("bob", "hr", True)]
    assert all("password_hash" not in u for u in listed)
    assert cli(data, "users", "enable", "bob").returncode == 0
    assert cli(data, "users", "passwd", "bob", "--password-stdin", stdin="another-long-passphrase").returncode == 0
    audit = [json.loads(x) for x in (data / "audit.log").read_text().splitlines()]
    assert [(r["action"], r["subject"]) for r in audit] == [
        ("user_add", "ada"), ("user_add", "bob"), ("user_role", "bob"), ("user_disable", "bob"),
        ("user_enable", "bob"), ("user_password", "bob")]
    assert audit[2]["actor"] == "it-ops" and audit[2]["via"] == "cli" and audit[2]["previous_role"] == "manager"
    everything = "".join(p.read_text() for p in data.rglob("*") if p.is_file())
    assert PASSWORD not in everything and "another-long-passphrase" not in everything


@pytest.mark.parametrize("argv,stdin,message", [
    (["users", "add", "eve", "--role", "viewer", "--password-stdin"], "short", "at least 12 characters"),
    (["users", "add", "eve", "--role", "viewer", "--password-stdin"], "", "nothing on standard input"),
    (["users", "add", "eve", "--role", "viewer"], PASSWORD, "--password-stdin"),  # no terminal to ask on
    (["users", "add", "Eve Smith", "--role", "viewer", "--password-stdin"], PASSWORD, "user name"),
    (["users", "role", "ghost", "hr"], None, "there is no account 'ghost'"),
    (["users", "role", "ada", "viewer"], None, "last active admin"),
    (["keys", "create", "--name", "x", "--scopes", "identify,root"], None, "unknown scope 'root'"),
    (["keys", "create", "--name", "x", "--scopes", "identify", "--expires-days", "0"], None, "from 1 to 3650"),
    (["keys", "revoke", "nope"], None, "no API key with id 'nope'"),
])
def test_bad_input_is_one_error_and_no_change(data, argv, stdin, message):
    assert cli(data, "users", "add", "ada", "--role", "admin", "--password-stdin", stdin=PASSWORD).returncode == 0
    before = snapshot(data)
    result = cli(data, *argv, stdin=stdin)
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert snapshot(data) == before


def test_a_password_is_never_an_argument(data):
    result = cli(data, "users", "add", "eve", "--role", "viewer", "--password", PASSWORD)
    assert result.returncode == 2 and "unrecognized arguments" in result.stderr


def test_keys_are_printed_once_and_listed_without_the_secret(data):
    created = cli(data, "--actor", "it-ops", "keys", "create", "--name", "door camera", "--scopes",
                  "identify, store", "--expires-days", "30", "--json")
    assert created.returncode == 0, created.stderr
    answer = json.loads(created.stdout)
    assert answer["key"].startswith(f"fdk_{answer['key_id']}_") and answer["scopes"] == ["identify", "store"]
    listed = cli(data, "keys", "list")
    assert answer["key"] not in listed.stdout and "door camera" in listed.stdout and "active" in listed.stdout
    assert cli(data, "keys", "revoke", answer["key_id"]).returncode == 0
    assert "revoked" in cli(data, "keys", "list").stdout
    audit = [json.loads(x) for x in (data / "audit.log").read_text().splitlines()]
    login = getpass.getuser()  # without --actor the audit names the operator's login
    assert [(r["action"], r["actor"]) for r in audit] == [("api_key_create", "it-ops"), ("api_key_revoke", login)]
    assert answer["key"] not in (data / "audit.log").read_text() + (data / "auth" / "api_keys.json").read_text()
