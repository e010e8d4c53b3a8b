"""The Dagster UI in a real browser: Debian's chromium driven by Playwright, against `dagster dev`
on a DAGSTER_HOME filled by a small demo (one sample day labeled by the offline scorer, then that
day's judge_scores with a judge that refuses every connection, so a blocking check fails).
Screenshots are kept in test-artifacts/ui/."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts" / "ui"
DAY, NEW_DAY = "2026-04-18", "2026-04-19"
WAIT_MS = 180_000  # a loaded 2-core machine loads the code location slowly

pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason=f"no browser at {CHROMIUM}: install Debian's chromium (apt-get install -y chromium; .ci/run does)",
)


@pytest.fixture(scope="module")
def ui_env(tmp_path_factory):
    """The environment `make ui` would have, on a DAGSTER_HOME holding a labeled day and a day
    whose judge_error_rate check failed."""
    home = tmp_path_factory.mktemp("ui")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACE_", "LANGFUSE_", "PYICEBERG_", "DAGSTER_", "JUDGE_", "RAGAS_"))}
    env.update(DAGSTER_HOME=str(home / "dagster_home"), TRACE_LAKE_URI=str(home / "lake"))
    subprocess.run([sys.executable, "-m", "trace_assets.dagster_home", env["DAGSTER_HOME"]], env=env, check=True, cwd=REPO)

    def fill(*args: str, **extra: str) -> str:
        completed = subprocess.run([sys.executable, "-m", "trace_assets_tests.ui_home", *args], env={**env, **extra},
                                   cwd=REPO, capture_output=True, text=True, timeout=1200)
        assert completed.returncode == 0, completed.stderr[-3000:]
        return completed.stdout

    fill("label", DAY)
    with socket.socket() as closed:  # a port nothing listens on: every judge request is refused
        closed.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{closed.getsockname()[1]}/v1"
    assert "judge_error_rate" in fill("judge", DAY, JUDGE_BASE_URL=refused)
    return env


@pytest.fixture(scope="module")
def dagster_ui(ui_env):
    """`dagster dev` on a free port, in its own process group. Stopped with SIGTERM, then SIGKILL
    for the whole group: a test started in the background inherits an ignored SIGTERM
    (STACK.md, "Signals"), and dagster dev's webserver, daemon and code servers would outlive it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = open(Path(ui_env["DAGSTER_HOME"]) / "dagster-dev.log", "w")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO, env=ui_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                urllib.request.urlopen(f"{base}/server_info", timeout=5)
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "dagster dev did not start: see dagster-dev.log"
                time.sleep(1)
        yield base
    finally:
        _stop_group(server)
        log.close()


def _stop_group(process: subprocess.Popen, grace_s: float = 10) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(grace_s)
            if sig == signal.SIGTERM:
                os.killpg(process.pid, 0)  # the group may outlive its leader: make sure
        except (subprocess.TimeoutExpired, ProcessLookupError):
            if sig == signal.SIGTERM:
                continue
            return


@pytest.fixture
def page(dagster_ui):
    from playwright.sync_api import sync_playwright

    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(WAIT_MS)
        page.goto(dagster_ui)
        skip = page.get_by_role("button", name="Skip")  # the "Join the Dagster community" modal
        try:
            skip.wait_for(timeout=15_000)
            skip.click()
        except Exception:  # noqa: BLE001  (no modal this time)
            pass
        yield page
        browser.close()


def test_the_ui_shows_the_graph_metadata_checks_and_materializes_a_day(page, dagster_ui, ui_env):
    # The lineage: the scoring group's assets with their checks, one of judge_scores' failed.
    page.goto(f"{dagster_ui}/locations/trace_assets/asset-groups/scoring")
    page.get_by_text("judge_scores").first.wait_for()
    page.get_by_text("ragas_scores").first.wait_for()
    page.get_by_text("3 / 3 Passed").first.wait_for()  # ragas_scores' checks
    page.get_by_text("2 / 3 Passed").first.wait_for()  # judge_scores: judge_error_rate failed
    page.screenshot(path=ARTIFACTS / "1-lineage-scoring.png")

    # The failed blocking check, on the asset's checks tab.
    page.goto(f"{dagster_ui}/assets/judge_scores?view=checks")
    page.get_by_text("judge_error_rate").first.click()
    page.get_by_text("This is a blocking asset check.").wait_for()
    page.get_by_text("Evaluation result").wait_for()
    page.screenshot(path=ARTIFACTS / "2-failed-check.png")
    details = page.inner_text("body")
    assert "judge_error_rate\nFailed" in details and "Evaluation result\nFailed" in details, details[:2000]

    # An asset page's metadata, and the reward picture rendered as an image.
    page.goto(f"{dagster_ui}/assets/labeled_dataset")
    for key in ("final_reward_distribution", "rewards_by_model", "best_examples", "reward_picture"):
        page.get_by_text(key).first.wait_for()
    page.screenshot(path=ARTIFACTS / "3-labeled-dataset.png", full_page=True)
    page.locator("tr", has_text="reward_picture").get_by_text("Show Markdown").click()
    picture = page.locator("img[src^='data:image/png']").first
    picture.wait_for()
    width, height = picture.evaluate("image => [image.naturalWidth, image.naturalHeight]")
    assert width == 900 and height > 400
    page.screenshot(path=ARTIFACTS / "4-reward-picture.png")
    page.keyboard.press("Escape")

    # A day materialized through the Materialize dialog; its run succeeds.
    page.goto(f"{dagster_ui}/assets/raw_traces")
    page.get_by_role("button", name="Materialize…").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Show all partitions").click()  # the sample days are older than the last 90
    partitions = dialog.locator("input[type=text]").first  # "ex: 2026-04-01, 2026-04-02, [2026-04-03...]"
    partitions.wait_for()
    partitions.fill(NEW_DAY)
    partitions.press("Enter")
    dialog.get_by_text("1 partition", exact=True).wait_for()
    page.screenshot(path=ARTIFACTS / "5-materialize-dialog.png")
    dialog.get_by_role("button", name="Launch 1 run").click()

    run = _wait_for_run_of(ui_env["DAGSTER_HOME"], NEW_DAY)
    page.goto(f"{dagster_ui}/runs/{run.run_id}")
    page.get_by_text("Success").first.wait_for()
    page.screenshot(path=ARTIFACTS / "6-run.png")
    assert run.status == dg.DagsterRunStatus.SUCCESS, run.status


def _wait_for_run_of(dagster_home: str, partition: str, timeout_s: float = 600) -> dg.DagsterRun:
    """The UI-launched run of `partition`, once it has finished."""
    deadline = time.monotonic() + timeout_s
    with dg.DagsterInstance.from_config(dagster_home) as instance:
        while True:
            runs = [r for r in instance.get_runs() if r.tags.get("dagster/partition") == partition]
            if runs and runs[0].is_finished:
                return runs[0]
            assert time.monotonic() < deadline, f"no finished run of {partition} within {timeout_s:.0f} s: {runs}"
            time.sleep(2)
