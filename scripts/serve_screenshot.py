"""Screenshot of a running ``jarvl serve`` page answering a built-in synthetic scene (for the README).

    .venv/bin/python scripts/serve_screenshot.py --url http://127.0.0.1:8000 --out docs/serve.png

Picks the example scenes in turn, asks each its own question and keeps the first one the model
answers right (the last one tried if none), then saves the page, colour-quantised to stay small.
Drives Debian's Chromium (``chromium`` on PATH) through Playwright; downloads nothing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import urllib.request

from PIL import Image
from playwright.sync_api import sync_playwright


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8000")
    ap.add_argument("--out", default="docs/serve.png")
    ap.add_argument("--layer", type=int, default=1, help="which map to show (0: image resampler, 1: fused tokens of iteration 1, ...)")
    args = ap.parse_args()
    url = args.url.rstrip("/")
    examples = json.load(urllib.request.urlopen(f"{url}/v1/info"))["examples"]
    browser_path = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser_path is None:
        raise SystemExit("no chromium on PATH: scripts/setup.sh installs Debian's package")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto(url + "/")
        page.wait_for_selector("body[data-ready='1']")
        for ex in examples:
            page.click(f"#examples img[data-id='{ex['id']}']")
            page.wait_for_function(f"document.getElementById('status').textContent.startsWith('example {ex['id']}:')")
            page.click("#ask")
            page.wait_for_selector("#overlay[data-drawn='1']")
            answer = page.inner_text("#answer")
            print(f"example {ex['id']}: {ex['question']} -> {answer} (truth {ex['truth']})")
            if answer == ex["truth"]:
                break
        options = page.eval_on_selector_all("#layer option", "els => els.length")
        if options > args.layer:
            page.select_option("#layer", str(args.layer))
        page.screenshot(path=args.out, full_page=True)
        browser.close()
    Image.open(args.out).convert("RGB").quantize(colors=128).save(args.out, optimize=True)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
