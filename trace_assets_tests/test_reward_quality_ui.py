"""The reward-quality picture as a user sees it: the Dagster UI (a real dagster-webserver) shows
the materialization's `picture` metadata, and a real browser (Debian's chromium) decodes the PNG."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from trace_assets_tests.test_reward_quality import labelled, quality  # noqa: F401  (the fixture)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--no-first-run",
]
DAY = "2026-04-23"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_webserver(home: Path, lake: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "DAGSTER_HOME": str(home), "TRACE_LAKE_URI": str(lake)}
    webserver = Path(sys.executable).with_name("dagster-webserver")
    return subprocess.Popen(
        [str(webserver), "-m", "trace_assets.definitions", "-h", "127.0.0.1", "-p", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )


def wait_for(url: str, server: subprocess.Popen, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"dagster-webserver exited: {server.stderr.read().decode()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(1)
    raise AssertionError(f"{url} did not answer within {timeout_s} s")


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
def test_the_picture_renders_in_the_dagster_ui(quality, tmp_path):  # noqa: F811
    playwright = pytest.importorskip("playwright.sync_api")
    table, _, run, build = quality
    table.insert([labelled(DAY, i, f"answer {i} rating:{f}", feedback=f) for i, f in enumerate([1, 2, 4, 5] * 3)])
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        result, _ = run(DAY, instance=instance)
        assert result.success

    port = free_port()
    server = start_webserver(home, tmp_path / "lake", port)
    try:
        wait_for(f"http://127.0.0.1:{port}/server_info", server)
        with playwright.sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.goto(f"http://127.0.0.1:{port}/assets/reward_quality?view=events&partition={DAY}")
            page.get_by_role("button", name="Skip").click(timeout=60_000)  # the first visit's community modal
            page.locator("tr", has_text="picture").get_by_text("Show Markdown").click(timeout=60_000)
            picture = page.locator("img[src^='data:image/png;base64,']")
            picture.wait_for(timeout=30_000)
            size = picture.evaluate("img => img.decode().then(() => [img.naturalWidth, img.naturalHeight])")
            browser.close()
        assert size == [800, 288], "the PNG decodes at its size: 10 x 3.6 inches at 80 dpi"
    finally:
        os.killpg(server.pid, signal.SIGKILL)  # the server and its code server, started in their own group
        server.wait()
