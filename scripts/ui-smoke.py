"""Drives the web app (/app) through a whole order in headless Chromium and saves screenshots.

Not part of CI (it needs a browser). With `baedal up` running:
    apt-get install chromium && pip install playwright
    python3 scripts/ui-smoke.py        # writes /tmp/ui-{customer,owner,rider}.png
"""
import asyncio, time
from playwright.async_api import async_playwright

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

async def login(browser, user):
    page = await browser.new_page(viewport={"width": 1100, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto("http://127.0.0.1:8088/app")
    await page.fill("#username", user)
    await page.fill("#password", "demo1234")
    await page.click("#login-form button")
    await page.wait_for_selector("#app:not([hidden])")
    return page, errors

async def main():
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        customer, cerr = await login(browser, "customer1")
        await customer.wait_for_selector("#stores button")
        await customer.click("#stores button >> nth=0")
        await customer.wait_for_selector("#menu input")
        await customer.fill("#menu input >> nth=0", "2")
        await customer.dispatch_event("#menu input >> nth=0", "input")
        await customer.click("#order")
        await customer.wait_for_selector("#orders tr", timeout=15000)
        owner, oerr = await login(browser, "owner1")
        for action in ["accept", "cook-start", "cook-finish"]:
            await owner.wait_for_selector(f"button[data-action={action}]", timeout=15000)
            await owner.click(f"button[data-action={action}] >> nth=0")
            await asyncio.sleep(0.5)
        rider, rerr = await login(browser, "rider1")
        await rider.wait_for_selector("button[data-pick]", timeout=15000)
        await rider.click("button[data-pick] >> nth=0")
        await rider.wait_for_selector("button[data-complete]", timeout=15000)
        await rider.click("button[data-complete] >> nth=0")
        await asyncio.sleep(2)
        await customer.wait_for_selector("button[data-confirm]", timeout=15000)
        await customer.click("button[data-confirm] >> nth=0")
        await asyncio.sleep(2.5)
        await customer.screenshot(path="/tmp/ui-customer.png", full_page=True)
        await owner.screenshot(path="/tmp/ui-owner.png", full_page=True)
        await rider.screenshot(path="/tmp/ui-rider.png", full_page=True)
        assert not (cerr or oerr or rerr), (cerr, oerr, rerr)
        print("web app: ordered, cooked, delivered and confirmed; screenshots in /tmp")
        await browser.close()

asyncio.run(main())
