#!/usr/bin/env python3
"""Headless Chromium signs up through matrixbox's invite page (tests/browser_e2e.rs).

  signup.py --base https://localhost:PORT --token T --expired-token E --user NAME
            --password P --screenshots DIR

Opens the onboarding page and an expired invite in English, switches each to Chinese with the
page's own link, opens the invite in Chinese and switches to English, types the user name (waits
for the page's availability check), the password twice, submits and waits for the page's
"account ready" section. Screenshots of every page go to DIR. Fails on any console error (a CSP
violation included). Prints {"user_id": ...} on stdout.

Chromium and chromedriver are Debian's (/usr/bin); selenium runs offline (SE_OFFLINE), so nothing
is downloaded. TLS: the edge's certificate comes from a per-test internal CA, which this throwaway
profile does not trust; certificate errors are ignored here (curl and the Matrix client verify
the same certificate in the Rust test).
"""

import argparse
import json
import os
import sys

os.environ["SE_OFFLINE"] = "true"

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-proxy-server",
        "--ignore-certificate-errors",
        "--window-size=900,1400",
        "--lang=en-US",
    ):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"intl.accept_languages": "en-US,en"})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))


def main():
    p = argparse.ArgumentParser()
    for name in ("--base", "--token", "--expired-token", "--user", "--password", "--screenshots"):
        p.add_argument(name, required=True)
    a = p.parse_args()
    os.makedirs(a.screenshots, exist_ok=True)
    driver = browser()
    wait = WebDriverWait(driver, 30)
    errors = []

    def shot(name):
        driver.save_screenshot(os.path.join(a.screenshots, name + ".png"))
        for entry in driver.get_log("browser"):
            # HTTP answers the page expects (the expired invite's 404, the sign-up's 401
            # steps, the favicon) are logged too; anything else (a CSP refusal, a script
            # error) fails the test.
            # A request Chromium cancels because the bench's engine added or removed an
            # interface (ERR_NETWORK_CHANGED) is sent again by the page itself.
            expected = (
                "Failed to load resource: the server responded with a status of",
                "net::ERR_NETWORK_CHANGED",
            )
            if entry["level"] == "SEVERE" and not any(e in entry["message"] for e in expected):
                errors.append(entry["message"])

    def has(text):
        wait.until(lambda d: text in d.page_source, f"waiting for {text!r}")

    # Chromium abandons a navigation when the host's interfaces change (ERR_NETWORK_CHANGED: the
    # bench's engine adds and removes container interfaces all the time), so a page that does
    # not show `text` is loaded again, a few times.
    def visit(url, text):
        for _ in range(4):
            driver.get(url)
            try:
                WebDriverWait(driver, 8).until(lambda d: text in d.page_source)
                return
            except TimeoutException:
                continue
        has(text)

    def switch_language(text):
        link = driver.find_element(By.CSS_SELECTOR, "nav.lang a")
        href = link.get_attribute("href")
        link.click()
        try:
            WebDriverWait(driver, 8).until(lambda d: text in d.page_source)
        except TimeoutException:
            visit(href, text)

    try:
        visit(a.base + "/", "How to connect")
        shot("onboarding.en")
        switch_language("如何连接")
        shot("onboarding.zh_CN")

        visit(f"{a.base}/invite/{a.expired_token}", "This invitation cannot be used")
        shot("invite-expired.en")
        switch_language("此邀请无法使用")
        shot("invite-expired.zh_CN")

        visit(f"{a.base}/invite/{a.token}?lang=zh_CN", "创建我的账号")
        shot("invite.zh_CN")
        switch_language("Create my account")

        driver.find_element(By.ID, "username").send_keys(a.user)
        wait.until(
            ec.text_to_be_present_in_element((By.ID, "name-status"), "is free"),
            "the page's availability check",
        )
        driver.find_element(By.ID, "password").send_keys(a.password)
        driver.find_element(By.ID, "password2").send_keys(a.password)
        shot("invite.en")
        driver.find_element(By.CSS_SELECTOR, "#signup button").click()
        wait.until(ec.visibility_of_element_located((By.ID, "done")), "the account-ready section")
        user_id = driver.find_element(By.ID, "done-user").text
        shot("invite-done.en")
    except Exception as e:  # noqa: BLE001 - report what the page showed
        shot("failure")
        errors.extend(entry["message"] for entry in driver.get_log("browser"))
        status = ""
        for element_id in ("name-status", "status"):
            found = driver.find_elements(By.ID, element_id)
            if found:
                status += f" #{element_id}: {found[0].text!r}"
        print(f"signup.py: {type(e).__name__}: {e}{status}; console: {errors}", file=sys.stderr)
        return 1
    finally:
        driver.quit()
    if errors:
        print(f"signup.py: console errors: {errors}", file=sys.stderr)
        return 1
    print(json.dumps({"user_id": user_id}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
