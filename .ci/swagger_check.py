"""Swagger UI as a user sees it: headless Chromium (Debian's) opens /documentation on an app
port, sees the app's operations and no other app's, and runs a filtered list through
"Try it out" until the UI shows a 200.

Usage: swagger_check.py BASE_URL SCREENSHOT
Every request must go to BASE_URL's host: the UI's assets are served by the runtime itself.
"""

import sys
from urllib.parse import urlparse

from playwright.sync_api import sync_playwright

import chromium

def main(base: str, screenshot: str) -> None:
    host = urlparse(base).netloc
    foreign = []
    with sync_playwright() as p:
        browser = chromium.launch(p)
        try:
            page = browser.new_page()

            def only_local(route):
                if urlparse(route.request.url).netloc == host:
                    route.continue_()
                else:
                    foreign.append(route.request.url)
                    route.abort()

            page.route("**/*", only_local)
            page.goto(f"{base}/documentation", wait_until="networkidle")
            page.wait_for_selector(".opblock", timeout=30_000)
            paths = page.locator(".opblock-summary-path").all_inner_texts()
            paths = {p.replace("\u200b", "").strip() for p in paths}
            for expected in ["/products", "/products/{id}", "/products/low-stock"]:
                assert expected in paths, f"Swagger UI lists no {expected}: {sorted(paths)}"
            # Every port also serves its own change feed.
            others = [p for p in paths if not p.startswith("/products") and p != "/changes"]
            assert not others, f"Swagger UI lists another app's paths: {others}"

            operation = page.locator("#operations-products-getProducts")
            operation.locator(".opblock-summary").click()
            operation.locator(".try-out__btn").click()
            operation.locator('tr[data-param-name="where.stock.gte"] input').fill("0")
            operation.locator('tr[data-param-name="orderby.stock"] select').select_option("desc")
            operation.locator(".execute").click()
            status = operation.locator(".live-responses-table tbody .response-col_status").first
            status.wait_for(timeout=30_000)
            code = status.inner_text().strip()
            url = operation.locator(".request-url pre").inner_text()
            page.screenshot(path=screenshot, full_page=False)
            assert code == "200", f"Try it out answered {code} for {url}"
            assert "where.stock.gte=0" in url, f"the filter is missing from {url}"
            print(f"Swagger UI: {len(paths)} paths listed; GET {url} answered {code}")
        finally:
            browser.close()
    assert not foreign, f"the page tried to load from elsewhere: {foreign}"


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
