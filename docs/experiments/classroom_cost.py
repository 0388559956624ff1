"""What one learner costs the classroom server: the seconds and memory of the lab's first run.

Starts the dashboard as a teacher would (real CIFAR from TL_LESSONS_DATA, a fresh run store),
then lets `LEARNERS` browsers (Chromium, one learner each) open the transfer lab and press Train
with its first settings, one after the other, and prints after each: the run's training seconds
(its own clock), and the server's memory (resident set) with the pages open and after the run.
Behind the README's classroom section; not part of the kit nor of its tests.

    PYTHONPATH=. TL_LESSONS_DATA=/path/to/cifar python docs/experiments/classroom_cost.py
"""
import re
import sys
import tempfile
import time
from pathlib import Path

import psutil
from playwright.sync_api import expect, sync_playwright

from tl_lessons.bench_browser import CHROMIUM_ARGS, ROOT, chromium_path, dashboard, open_lab
from tl_lessons.runs import RunStore

LEARNERS = int(sys.argv[1]) if len(sys.argv) > 1 else 4


def server_memory_mb(address: str) -> float:
    """Resident memory of the `streamlit run` process serving `address`."""
    port = address.rsplit(":", 1)[1]
    for process in psutil.process_iter(["cmdline"]):
        command = process.info["cmdline"] or []
        if "streamlit" in " ".join(command) and port in command:
            return process.memory_info().rss / 2**20
    raise RuntimeError(f"no streamlit process serves {address}")


with tempfile.TemporaryDirectory() as folder:
    store_path = Path(folder) / "runs.sqlite"
    with dashboard(ROOT, {"TL_LESSONS_RUNS": str(store_path), "PYTHONPATH": str(ROOT)}) as address:
        print(f"server started: {server_memory_mb(address):.0f} MB")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            pages = []
            for learner in range(1, LEARNERS + 1):
                page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
                page.set_default_timeout(600_000)
                open_lab(page, address)
                pages.append(page)
                opened = server_memory_mb(address)
                page.get_by_role("button", name="Train", exact=True).click()
                expect(page.get_by_text(re.compile("^Finished"))).to_be_visible(timeout=600_000)
                time.sleep(2)  # let the page's last redraw settle
                run = RunStore(store_path, write=False).runs()[0]
                print(f"learner {learner}: {run['label']}, {run['results']['elapsed']:.1f} s of training; "
                      f"server {opened:.0f} MB with the page open, {server_memory_mb(address):.0f} MB after the run")
            browser.close()
