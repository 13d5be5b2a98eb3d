"""The README's picture of the lecture in a browser: `uv run python screenshots/web_page.py`.

Starts a lecture of conv_edges.yaml with the web page (no presenter's TUI: the position is
published directly, as the presenter's app would), opens the page in Debian's Chromium and saves
screenshots/web-lecture.png. Not part of make.sh: it needs a browser, and PNGs are not compared.
"""

import asyncio
import time
from pathlib import Path

import asyncssh
from playwright.async_api import async_playwright

from stepper.serve.lecture import Config, Lecture

ROOT = Path(__file__).resolve().parents[1]
STEP = 20  # the left edge found, the right edge next (as the README's SVG)


async def shoot(url: str, out: Path) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                                   args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = await browser.new_page(viewport={"width": 1100, "height": 640})
        await page.goto(url)
        deadline = time.monotonic() + 60
        while f"step {STEP + 1}/" not in await page.evaluate("document.body.innerText"):
            assert time.monotonic() < deadline, "the page did not show the step"
            await asyncio.sleep(0.1)
        await asyncio.sleep(1)
        await page.screenshot(path=str(out))
        await browser.close()


def main() -> None:
    config = Config(scenario_path=str(ROOT / "scenarios" / "conv_edges.yaml"),
                    host_key=asyncssh.generate_private_key("ssh-ed25519"), open=True, web_port=0)
    lecture = Lecture(config)
    lecture.start()
    try:
        lecture.publish(str(STEP))
        asyncio.run(shoot(lecture.web.url("127.0.0.1"), ROOT / "screenshots" / "web-lecture.png"))
    finally:
        lecture.stop()


if __name__ == "__main__":
    main()
