#!/usr/bin/env python3
"""Browser check: GraphiQL on a running port, in Debian's headless Chromium.

  graphiql_check.py BASE_URL SCREENSHOT.png

Opens BASE_URL/graphiql, types a query with relations into the editor, runs it with the
execute button, and waits until the result pane shows the query's data. Exits non-zero when
the page, its locally served assets, or the query fail.
"""
import sys

from playwright.sync_api import sync_playwright

import chromium

QUERY = "{ invoices(limit: 2) { number customer { name } lineItems { quantity product { sku } } } }"


def main() -> int:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    base, screenshot = sys.argv[1].rstrip("/"), sys.argv[2]
    with sync_playwright() as p:
        browser = chromium.launch(p)
        page = browser.new_page()
        offsite = []
        page.on("request", lambda r: offsite.append(r.url) if not r.url.startswith(base) else None)
        page.goto(f"{base}/graphiql")
        page.wait_for_selector(".graphiql-query-editor .CodeMirror", timeout=15000)
        page.evaluate(
            "(query) => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(query)",
            QUERY,
        )
        page.click(".graphiql-execute-button")
        page.wait_for_function(
            "() => { const r = document.querySelector('.result-window .CodeMirror');"
            " return r && r.CodeMirror.getValue().includes('\"invoices\"'); }",
            timeout=15000,
        )
        result = page.evaluate("() => document.querySelector('.result-window .CodeMirror').CodeMirror.getValue()")
        page.screenshot(path=screenshot)
        browser.close()
    if '"errors"' in result or '"sku"' not in result:
        print(f"GraphiQL showed an unexpected result:\n{result}", file=sys.stderr)
        return 1
    if offsite:
        print(f"GraphiQL loaded assets from elsewhere: {offsite}", file=sys.stderr)
        return 1
    print(f"GraphiQL ran a query on {base}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
