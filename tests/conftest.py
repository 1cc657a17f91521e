"""Headless Chromium for dash.testing's browser fixtures (`dash_duo`)."""

from __future__ import annotations

import os

CHROMIUM = "/usr/bin/chromium"
# Root in a container needs --no-sandbox; the rest keep an offline Chromium from retrying
# connections to Google services and from flooding the log with refusals.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,1000",
)


def pytest_setup_options():
    """dash.testing's hook: the options its fixtures start Chrome with (chromedriver from PATH)."""
    from selenium.webdriver.chrome.options import Options

    options = Options()
    if os.path.exists(CHROMIUM):
        options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    return options


def pytest_configure(config):
    # selenium 4.2 calls a urllib3 API that warns on every webdriver request (hundreds a test)
    config.addinivalue_line("filterwarnings", "ignore:HTTPResponse.getheader:DeprecationWarning")
