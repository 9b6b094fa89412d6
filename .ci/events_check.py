#!/usr/bin/env python3
"""Browser check: change events on a running runtime, in Debian's headless Chromium.

  events_check.py APP_URL COMPOSED_URL SCREENSHOT.png

On APP_URL (the invoices app's port): a page's own `EventSource` follows `/changes`, and
GraphiQL runs a subscription over its WebSocket; an invoice written through COMPOSED_URL must
reach both. Exits non-zero when either misses it, or a page loads anything from elsewhere.
"""
import json
import sys
import time
import urllib.request

from playwright.sync_api import sync_playwright

import chromium

SUBSCRIPTION = "subscription { invoiceSaved(where: {number: {like: \"EV-%\"}}) { number customer { name } } }"


def write_invoice(composed: str, number: str) -> None:
    body = json.dumps({"customerId": 1, "number": number}).encode()
    request = urllib.request.Request(
        f"{composed}/invoices", data=body, headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201, response.status


def main() -> int:
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    base, composed, screenshot = (a.rstrip("/") for a in sys.argv[1:4])
    number = f"EV-{int(time.time() * 1000)}"
    with sync_playwright() as p:
        browser = chromium.launch(p)
        offsite = []

        feed = browser.new_page()
        feed.on("request", lambda r: offsite.append(r.url) if not r.url.startswith(base) else None)
        feed.goto(f"{base}/")
        feed.evaluate(
            """() => new Promise((open) => {
                 window.changes = [];
                 const source = new EventSource("/changes?tables=invoices");
                 source.addEventListener("insert", (m) => window.changes.push(JSON.parse(m.data)));
                 source.onopen = () => open();
               })"""
        )

        graphiql = browser.new_page()
        graphiql.on("request", lambda r: offsite.append(r.url) if not r.url.startswith(base) else None)
        graphiql.goto(f"{base}/graphiql")
        graphiql.wait_for_selector(".graphiql-query-editor .CodeMirror", timeout=15000)
        graphiql.evaluate(
            "(q) => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(q)",
            SUBSCRIPTION,
        )
        # GraphiQL parses the editor's text a moment after it changes, and only a parsed
        # subscription goes over the WebSocket.
        time.sleep(1.5)
        graphiql.click(".graphiql-execute-button")
        # The subscription is open once the WebSocket has said `subscribe`; give it a moment.
        time.sleep(1.5)

        write_invoice(composed, number)

        feed.wait_for_function(
            "(n) => window.changes.some((c) => c.row && c.row.number === n)", arg=number, timeout=15000
        )
        graphiql.wait_for_function(
            "(n) => { const r = document.querySelector('.result-window .CodeMirror');"
            " return r && r.CodeMirror.getValue().includes(n); }",
            arg=number,
            timeout=15000,
        )
        result = graphiql.evaluate(
            "() => document.querySelector('.result-window .CodeMirror').CodeMirror.getValue()"
        )
        graphiql.screenshot(path=screenshot)
        browser.close()
    if '"errors"' in result or '"name"' not in result:
        print(f"GraphiQL's subscription showed an unexpected result:\n{result}", file=sys.stderr)
        return 1
    if offsite:
        print(f"the pages loaded from elsewhere: {offsite}", file=sys.stderr)
        return 1
    print(f"EventSource and a GraphiQL subscription on {base} both saw {number}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
