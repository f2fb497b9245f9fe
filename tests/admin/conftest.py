"""The admin over a committed 300-shop demo city: an in-process client per test (cookies
of its own), sign-in helpers, and for browser tests the app served by uvicorn on a free
loopback port with Playwright driving Debian's headless Chromium."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool
from starlette.applications import Starlette
from starlette.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from domain.demo import load_demo
from domain.models import User
from domain.vault import Vault
from tests.support import free_port, traversable_tmpdir

VAULT = Vault(b"retailgis-admin-test-secret-0123456789")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CSRF_RE = re.compile(r"X-CSRF-Token&#34;:\s*&#34;([^&]+)&#34;")


class Demo:
    def __init__(self, engine: Engine, password: str) -> None:
        self.engine = engine
        self.password = password

    def user(self, role: str, nth: int = 0) -> str:
        """The username of the nth user (by id) with ``role``."""
        with Session(self.engine) as s:
            names = s.scalars(select(User.username).where(User.role == role).order_by(User.id))
            return list(names)[nth]

    def scalar(self, statement: Any) -> Any:
        with Session(self.engine) as s:
            return s.scalar(statement)


@contextmanager
def demo_database(pg_cluster: Any) -> Iterator[Demo]:
    """A database of its own with the 300-shop demo city, dropped at the end."""
    name = f"admin_{id(object()):x}"
    pg_cluster.create_database(name, template="retailgis_template")
    engine = create_engine(pg_cluster.url(name), poolclass=NullPool)
    with engine.begin() as conn:
        summary = load_demo(conn, shops=300, seed=11, as_of=dt.date(2026, 11, 1), vault=VAULT)
    yield Demo(engine, summary.password)
    engine.dispose()
    pg_cluster.drop_database(name)


def demo_app(demo: Demo) -> Starlette:
    settings = Settings(app_env="test", data_dir=traversable_tmpdir("rgis-admin-"))
    return create_app(settings, demo.engine, vault=VAULT)


@pytest.fixture(scope="package")
def admin_demo(pg_cluster: Any) -> Iterator[Demo]:
    with demo_database(pg_cluster) as demo:
        yield demo


@pytest.fixture(scope="package")
def admin_app(admin_demo: Demo) -> Starlette:
    return demo_app(admin_demo)


@pytest.fixture
def browser_client(admin_app: Starlette) -> Iterator[TestClient]:
    """A client with its own cookie jar (not signed in)."""
    with TestClient(admin_app, base_url="http://testserver") as c:
        yield c


def csrf_of(html: str) -> str:
    found = CSRF_RE.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def signin_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no sign-in token on the page"
    return found.group(1)


SignIn = Callable[..., str]


@pytest.fixture
def sign_in(browser_client: TestClient, admin_demo: Demo) -> SignIn:
    """Sign the client in as ``username``; returns the session's CSRF token."""

    def run(username: str, password: str | None = None) -> str:
        page = browser_client.get("/admin/signin")
        res = browser_client.post(
            "/admin/signin",
            data={"username": username, "password": password or admin_demo.password,
                  "csrf_token": signin_token(page.text), "next": "/admin/"},
            follow_redirects=False,
        )  # fmt: skip
        assert res.status_code == 303, res.text
        home = browser_client.get("/admin/")
        assert home.status_code == 200
        return csrf_of(home.text)

    return run


# -- the browser -------------------------------------------------------------------------


@pytest.fixture(scope="package")
def live_server(admin_app: Starlette) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(admin_app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the admin test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="package")
def chromium() -> Iterator[Any]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(
            f"{CHROMIUM} is missing: run scripts/bootstrap.sh (it installs Debian's chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"],
        )  # fmt: skip
        yield browser
        browser.close()


class BrowserPage:
    """A fresh browser context (its own cookies) with CSP violations and page errors
    collected, and screenshots written under test-artifacts/."""

    def __init__(self, browser: Any, base: str, name: str) -> None:
        self.context = browser.new_context(base_url=base, locale="zh-CN")
        self.page = self.context.new_page()
        self.name = name
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        self.page.on("response", self._response)

    def _console(self, msg: Any) -> None:
        if msg.type != "error" or msg.text.startswith("Failed to load resource"):
            return  # failed loads are judged by _response (a 400 form page is expected)
        kind = "CSP" if "Content Security Policy" in msg.text else "console"
        self.problems.append(f"{kind}: {msg.text}")

    def _response(self, response: Any) -> None:
        """A static file, script or style that fails to load is a problem; pages and
        htmx requests answering 4xx are what the tests assert on."""
        kind = response.request.resource_type
        if response.status >= 400 and kind in ("script", "stylesheet", "image", "font"):
            self.problems.append(f"{response.status} {kind} {response.url}")

    def screenshot(self, step: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{step}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def sign_in(self, username: str, password: str) -> None:
        self.page.goto("/admin/signin")
        self.page.fill("input[name=username]", username)
        self.page.fill("input[name=password]", password)
        self.page.click("button[type=submit]")
        self.page.wait_for_url("**/admin/")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def browser_page(
    chromium: Any, live_server: str, request: pytest.FixtureRequest
) -> Iterator[BrowserPage]:
    page = BrowserPage(chromium, live_server, request.node.name)
    yield page
    page.close()
