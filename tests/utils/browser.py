"""Headless Chromium for the browser tests: Debian's `chromium` and `chromium-driver` driven through selenium, with
no browser download at test time. Absent, the tests skip with the reason (scripts/test.sh installs both where
apt-get works)."""

from __future__ import annotations

import os
import shutil
import time
from contextlib import contextmanager

import pytest


@contextmanager
def chromium(width: int = 1400, height: int = 1000):
    """A headless Chromium driver that records the browser's console (read it with [`console_errors`])."""
    pytest.importorskip("selenium", reason="selenium is not installed (pip install -e '.[dev]')")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")
                   if shutil.which(name)), None)
    driver_path = shutil.which("chromedriver")
    if binary is None or driver_path is None:
        pytest.skip("Chromium or ChromeDriver is absent: apt-get install chromium chromium-driver (scripts/test.sh "
                    "does where apt-get works)")
    os.environ.setdefault("SE_OFFLINE", "true")  # selenium never looks for a driver online
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     f"--window-size={width},{height}", "--disable-extensions", "--no-first-run"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver) -> list[str]:
    """The browser console's errors since the last call."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def wait_for(driver, script: str, timeout: float = 30.0):
    """Poll a JavaScript expression until it is truthy; its value, or a failure naming it."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = driver.execute_script(f"return {script}")
        if value:
            return value
        time.sleep(0.05)
    text = driver.execute_script("return document.body.innerText")
    pytest.fail(f"the page never satisfied {script!r} in {timeout} s; console: {console_errors(driver)}; the page "
                f"ends: {text[-1500:]}")
