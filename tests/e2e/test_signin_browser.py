"""End to end, as a new user: `make run` prints the first-admin link -> setup -> sign out -> a viewer added with the
CLI -> five wrong passwords -> throttled (even with the right one) -> wait -> signed in, seeing only a viewer's pages.

The real app is started with scripts/run.sh on a fresh data folder, in a real Chromium (tests/e2e/conftest.py). The
server's audit log is read to know when a sign-in attempt was handled (a stale error message from the previous
attempt looks the same in the page) and to check what was recorded.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output"
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
ADMIN, ADMIN_PASSWORD = "ada", "first-admin-pass-0451"
VIEWER, VIEWER_PASSWORD = "vera", "viewer-secret-pass-7713"
WRONG_PASSWORD = "not-her-password-0000"
SCRIPT_STATE = "() => document.querySelector('[data-test-script-state]')?.getAttribute('data-test-script-state')"
SIDEBAR_NAV = '[data-testid="stSidebarNav"]'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def audit_lines(data_dir: Path) -> list[dict]:
    path = data_dir / "audit.log"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def sign_in_records(data_dir: Path, username: str) -> list[dict]:
    return [r for r in audit_lines(data_dir) if r["action"] == "sign_in" and r.get("subject") == username]


def wait_for(predicate, timeout: float, what: str, app_log: Path, process: subprocess.Popen):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert process.poll() is None, f"the app exited ({process.returncode}) waiting for {what}:\n{log_tail(app_log)}"
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}:\n{log_tail(app_log)}"
        time.sleep(0.1)


def wait_until_idle(page, timeout_ms: int = 120_000) -> None:
    """The page's script run has finished."""
    page.wait_for_function(f"() => ({SCRIPT_STATE})() === 'notRunning'", timeout=timeout_ms)


def headings(page) -> list[str]:
    return page.locator("h1").all_inner_texts()


@contextlib.contextmanager
def shown_on_failure(page, app_log: Path):
    """A failure saves what the browser shows (test-output/signin-failed.png) and says where it was."""
    try:
        yield
    except Exception as exc:
        OUTPUT.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(Exception):
            page.screenshot(path=str(OUTPUT / "signin-failed.png"), full_page=True)
        where = "?"
        with contextlib.suppress(Exception):
            where = f"url {page.url}, h1 {headings(page)}, script state {page.evaluate(SCRIPT_STATE)}"
        raise AssertionError(f"{exc.__class__.__name__}: {exc}\nthe browser shows {where} "
                             f"(test-output/signin-failed.png)\napp log:\n{log_tail(app_log, 3000)}") from exc


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_first_admin_sign_out_throttle_and_viewer(plain_chromium_page, process_groups, tmp_path):
    page = plain_chromium_page
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    app_log = tmp_path / "run.log"
    # a 10 s first wait (default 2 s): the 6th try below lands inside it even on a slow, loaded machine
    env = {**os.environ, "FACEDASH_DATA_DIR": str(data_dir), "FACEDASH_PUBLIC_URL": url, "PYTHONUNBUFFERED": "1",
           "FACEDASH_SIGNIN_BASE_DELAY_S": "10"}

    # 1. `make run` (scripts/run.sh) sets up, prints the one-time setup link, then starts the app
    with app_log.open("wb") as log:
        process = subprocess.Popen(
            ["bash", "scripts/run.sh", "--server.port", str(port), "--server.address", "127.0.0.1",
             "--server.fileWatcherType", "none"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    process_groups.append(process)
    link_pattern = re.compile(re.escape(url) + r"/\?setup=([A-Za-z0-9_-]{20,})")
    found = wait_for(lambda: link_pattern.search(log_tail(app_log, 10**6)), 300, "the setup link", app_log, process)
    setup_link = found.group(0)

    def healthy() -> bool:
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                return response.status == 200
        return False

    wait_for(healthy, 180, "/_stcore/health", app_log, process)
    assert (data_dir / "auth" / "setup.json").is_file()

    with shown_on_failure(page, app_log):
        # 2. without the token: only the setup page, with no navigation and no way in
        page.goto(url + "/")
        page.get_by_role("heading", name="Create the first admin").wait_for(timeout=120_000)
        wait_until_idle(page)
        page.get_by_text("Open the one-time setup link").wait_for()
        assert page.locator(SIDEBAR_NAV).count() == 0
        assert page.get_by_text("Signed in as").count() == 0
        page.goto(url + "/history")  # a page's address leads to the setup page too
        page.get_by_role("heading", name="Create the first admin").wait_for(timeout=60_000)
        wait_until_idle(page)
        assert "History" not in headings(page)

        # 3. the setup link: create the first admin, signed in at once, the token leaves the address bar
        page.goto(setup_link)
        page.get_by_role("heading", name="Create the first admin").wait_for(timeout=60_000)
        wait_until_idle(page)
        assert page.get_by_label("Setup token").count() == 0  # the link carries it
        page.get_by_label("Admin user name").fill(ADMIN)
        page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
        page.get_by_label("Password again").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Create admin and sign in").click()
        sidebar = page.locator('[data-testid="stSidebar"]')
        sidebar.get_by_text("Signed in as").wait_for(timeout=60_000)
        assert ADMIN in sidebar.get_by_text("Signed in as").inner_text()
        admin_start = "Live camera" if (ROOT / "pages" / "live.py").is_file() else "Analyze an upload"
        page.get_by_role("heading", name=admin_start).wait_for(timeout=120_000)
        page.wait_for_url(lambda address: "setup=" not in address, timeout=30_000)
        page.locator(SIDEBAR_NAV).get_by_role("link", name="Users and API keys").wait_for()  # an admin's page
        assert not (data_dir / "auth" / "setup.json").exists(), "the setup token must be used up"

        # 4. sign out from the sidebar
        wait_until_idle(page)
        sidebar.get_by_role("button", name="Sign out").click()
        page.get_by_role("heading", name="Sign in to FaceDash").wait_for(timeout=60_000)
        page.get_by_text("You are signed out.").wait_for()
        wait_until_idle(page)
        assert page.locator(SIDEBAR_NAV).count() == 0

        # 5. an admin adds a viewer on the server (the password on standard input, never an argument)
        added = subprocess.run(
            [str(VENV_PYTHON), "-m", "core", "users", "add", VIEWER, "--role", "viewer", "--password-stdin"],
            input=VIEWER_PASSWORD + "\n", cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
        assert added.returncode == 0, f"users add exited {added.returncode}:\n{added.stdout}\n{added.stderr[-3000:]}"
        assert f"added {VIEWER} (viewer)" in added.stdout

        def submit(username: str, password: str) -> None:
            page.get_by_label("User name").fill(username)
            page.get_by_label("Password", exact=True).fill(password)
            page.get_by_role("button", name="Sign in").click()

        # 6. five wrong passwords: each refused with the same message; the 6th try, right password, is throttled
        for attempt in range(1, 6):
            submit(VIEWER, WRONG_PASSWORD)
            wait_for(lambda n=attempt: len(sign_in_records(data_dir, VIEWER)) >= n, 60, f"failed sign-in #{attempt}",
                     app_log, process)
            page.get_by_text("wrong user name or password").wait_for(timeout=30_000)
            wait_until_idle(page)
            assert page.get_by_text("too many failed sign-ins").count() == 0, f"throttled already at try #{attempt}"
        failed = sign_in_records(data_dir, VIEWER)
        assert [r.get("error") for r in failed] == ["wrong password"] * 5, failed

        submit(VIEWER, VIEWER_PASSWORD)  # the delay (10 s after the 5th failure) has not run out yet
        throttled = page.get_by_text("too many failed sign-ins")
        try:
            throttled.wait_for(timeout=30_000)
        except Exception as exc:
            raise AssertionError(
                f"the right password, tried at once after the 5th failure, was not refused as throttled; the page shows "
                f"{headings(page)}; audit after the 5th failure: {sign_in_records(data_dir, VIEWER)[5:]}") from exc
        message = throttled.inner_text()
        shown = re.search(r"try again in (\d+) s", message)
        assert shown and 1 <= int(shown.group(1)) <= 10, message  # 10 s after the 5th failure, rounded up
        wait_s = int(shown.group(1))
        last = sign_in_records(data_dir, VIEWER)[-1]
        assert (last["outcome"], last.get("error")) == ("failed", "throttled"), last
        assert page.get_by_text("Signed in as").count() == 0

        time.sleep(wait_s + 1.5)  # the user waits as told (plus a margin)
        submit(VIEWER, VIEWER_PASSWORD)
        sidebar.get_by_text("Signed in as").wait_for(timeout=60_000)
        assert VIEWER in sidebar.get_by_text("Signed in as").inner_text()

        # 7. a viewer's pages only: History and Model evaluation, not Workers nor Settings
        page.get_by_role("heading", name="History").wait_for(timeout=120_000)
        wait_until_idle(page)
        nav = page.locator(SIDEBAR_NAV)
        assert nav.get_by_role("link", name="History").count() == 1
        assert nav.get_by_role("link", name="Model evaluation").count() == 1
        for hidden in ("Workers", "Settings and privacy", "Users and API keys", "Audit log", "Live camera"):
            assert nav.get_by_role("link", name=hidden).count() == 0, f"a viewer sees the {hidden!r} link"
        OUTPUT.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(OUTPUT / "signin.png"), full_page=True)

        # the Workers page's address does not open it: a new browser session starts signed out, on the sign-in page
        # (with Streamlit's "Page not found" dialog, since only the sign-in page exists before signing in)
        page.goto(url + "/workers")
        page.get_by_role("heading", name="Sign in to FaceDash").wait_for(timeout=60_000)
        wait_until_idle(page)
        assert "Workers" not in headings(page), headings(page)
        dialog = page.get_by_role("dialog")
        with contextlib.suppress(Exception):
            dialog.wait_for(timeout=3_000)
        if dialog.count():
            assert "Page not found" in dialog.inner_text()
            dialog.get_by_role("button", name="Close").click()  # as a user would, to reach the form
            dialog.wait_for(state="detached", timeout=10_000)
        submit(VIEWER, VIEWER_PASSWORD)  # signed in from that address: the viewer's start page, still no Workers
        sidebar.get_by_text("Signed in as").wait_for(timeout=60_000)
        page.get_by_role("heading", name="History").wait_for(timeout=120_000)
        wait_until_idle(page)
        assert "Workers" not in headings(page), headings(page)
        assert page.locator(SIDEBAR_NAV).get_by_role("link", name="Workers").count() == 0

        # 8. the audit log recorded the setup, the failures, the throttled try and the sign-ins
        records = audit_lines(data_dir)
        assert any(r["action"] == "setup_admin" and r["outcome"] == "done" and r["subject"] == ADMIN for r in records)
        assert any(r["action"] == "sign_out" and r["actor"] == ADMIN for r in records)
        assert any(r["action"] == "user_add" and r["subject"] == VIEWER and r.get("role") == "viewer" for r in records)
        viewer = sign_in_records(data_dir, VIEWER)
        assert sum(r.get("error") == "wrong password" for r in viewer) == 5
        assert any(r["outcome"] == "failed" and r.get("error") == "throttled" for r in viewer)
        assert any(r["outcome"] == "done" and r["actor"] == VIEWER for r in viewer)
        assert all(VIEWER_PASSWORD not in json.dumps(r) and WRONG_PASSWORD not in json.dumps(r) for r in records)
