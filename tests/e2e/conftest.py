"""A headless Chromium (the system's, never a downloaded one) driving the live server, one person at a time."""

import importlib
import os
import re
import time
from pathlib import Path

import pyotp
import pytest
from PIL import Image, ImageDraw

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # the browser fixture skips, or fails when a browser is required
    expect = sync_playwright = None

# Playwright's sync API keeps an asyncio loop running in the test thread; the ORM calls the tests and their
# fixtures make from that thread are plain synchronous ones.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
PASSWORD = "clave-de-prueba-1"
# Where the password step leads: the inbox, or the second factor's step (enrolment the first time).
AFTER_PASSWORD = re.compile("^(Bandeja|Código de verificación|Activar la verificación en dos pasos)$")


def browser_missing(reason: str):
    if os.environ.get("PREGONERO_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (PREGONERO_REQUIRE_BROWSER=1)", pytrace=False)
    pytest.skip(reason)


# The data migrations that seed reference data (sectors, the completeness checklist).
SEED_MIGRATIONS = (
    "pregonero.directory.migrations.0002_seed_sectors",
    "pregonero.campaigns.migrations.0002_default_checklist",
)


@pytest.fixture
def reference_data(transactional_db):
    """Re-seeds what the data migrations put in: a transactional test before this one may have flushed it."""
    from django.apps import apps

    for name in SEED_MIGRATIONS:
        importlib.import_module(name).seed(apps, None)


@pytest.fixture
def browser(transactional_db):
    """Chromium for one test, started after the test database is ready and stopped before it is flushed.

    While Playwright's loop runs, Django gives this thread a separate, context-local database connection;
    the database's own setup and teardown stay outside that window.
    """
    if not CHROMIUM.exists():
        browser_missing(f"{CHROMIUM} not found: install the system Chromium to run the browser tests")
    if sync_playwright is None:
        browser_missing("the playwright package is not installed")
    from django.db import connections

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
            connections.close_all()  # the connections opened while the loop ran


class Site:
    """One browser tab on the live server, with the few gestures every role repeats."""

    def __init__(self, page, base_url: str):
        self.page, self.base_url = page, base_url
        self.problems: list[str] = []
        self.otp_apps: dict[str, pyotp.TOTP] = {}
        self.otp_steps: dict[str, int] = {}
        page.on("response", lambda r: r.status >= 500 and self.problems.append(f"{r.status} {r.url}"))
        page.on("pageerror", lambda error: self.problems.append(f"JS: {error}"))
        # A script or style the Content Security Policy blocks only shows in the console.
        page.on("console", lambda m: "Content Security Policy" in m.text and self.problems.append(f"CSP: {m.text}"))

    def goto(self, path: str):
        self.page.goto(self.base_url + path)

    def login(self, username: str):
        """Password, then for the Director and the database role the authenticator app's code, as a person would.

        The first time in a test the person enrols: the key is read off the page into a TOTP "app" kept here.
        """
        self.goto("/cuenta/entrar/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", PASSWORD)
        self.page.get_by_role("button", name="Entrar").click()
        heading = self.page.locator("h1")
        expect(heading).to_have_text(AFTER_PASSWORD)
        if heading.inner_text() == "Activar la verificación en dos pasos":
            self.otp_apps[username] = pyotp.TOTP(self.page.locator("#otp-secret").inner_text().replace(" ", ""))
            self.page.fill("#id_code", self.otp_code(username))
            self.page.get_by_role("button", name="Confirmar").click()
            expect(self.page.locator("#recovery-codes li")).to_have_count(8)
            self.page.get_by_role("link", name="Ya los guardé: continuar").click()
        elif heading.inner_text() == "Código de verificación":
            self.page.fill("#id_code", self.otp_code(username))
            self.page.get_by_role("button", name="Verificar").click()
        expect(self.page.locator("header .who")).to_contain_text(username.capitalize())
        expect(heading).to_have_text("Bandeja")

    def otp_code(self, username: str) -> str:
        """The app's code for a step newer than the last one used (a code is taken once), waiting if need be."""
        app = self.otp_apps[username]
        step = max(app.timecode(time.time()), self.otp_steps.get(username, 0) + 1)
        while step > app.timecode(time.time()) + 1:  # the server takes the current step and the ones either side
            time.sleep(0.5)
        self.otp_steps[username] = step
        return app.generate_otp(step)

    def logout(self):
        self.page.locator("header .who").get_by_role("button", name="Salir").click()
        expect(self.page.locator("h1")).to_have_text("Entrar a Pregonero")
        expect(self.page.locator("header .who")).to_have_count(0)

    def open_from_inbox(self, folio: str):
        """Goes to the person's inbox and follows the request's link there (it must be waiting on them)."""
        self.page.locator("header nav").get_by_role("link", name="Bandeja").click()
        self.page.locator("#inbox").get_by_role("link", name=folio).click()

    def act(self, action: str, comment: str = ""):
        """Presses a transition's button on the page, writing the comment first when given."""
        form = self.page.locator(f"form.action-form[data-action='{action}']")
        if comment:
            form.locator("textarea[name=comment]").fill(comment)
        form.locator("button[type=submit]").click()

    def expect_state(self, code: str, label: str):
        badge = self.page.locator("#campaign-state")
        expect(badge).to_have_attribute("data-state", code)
        expect(badge).to_have_text(label)

    def expect_message(self, text: str):
        expect(self.page.locator("ul.messages")).to_contain_text(text)


@pytest.fixture
def site(browser, live_server, reference_data):
    expect.set_options(timeout=10_000)
    context = browser.new_context(locale="es-MX", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    site = Site(context.new_page(), live_server.url)
    yield site
    context.close()
    assert not site.problems, site.problems


@pytest.fixture
def invitation_png(tmp_path) -> Path:
    """A small but real PNG, as a department would attach it."""
    path = tmp_path / "invitacion-noche-de-cultura.png"
    image = Image.new("RGB", (480, 600), (18, 74, 110))
    draw = ImageDraw.Draw(image)
    draw.rectangle((30, 30, 450, 570), outline=(240, 200, 80), width=6)
    draw.text((60, 280), "Noche de Cultura", fill=(255, 255, 255))
    image.save(path, "PNG")
    return path


@pytest.fixture
def mail_to(inbox):
    """The messages to an address whose subject has a text; polls briefly, since mail goes out after commit."""

    def find(address: str, subject_part: str, timeout: float = 5.0) -> list:
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in inbox.to(address) if subject_part in m["Subject"]]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    return find
