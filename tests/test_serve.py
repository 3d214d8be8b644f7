"""`python -m explorer.serve --workers 2`: nginx in front of two Streamlit processes, one of them killed mid-class.

Simulated students (explorer.loadtest's browser sessions) open pages through
nginx until each process has two of them, then keep typing sentences and
moving controls. One process is killed with SIGKILL. Then:
- the students on the other process notice nothing: every one of their runs succeeds;
- the students of the killed process reconnect, as a browser does, and carry on;
- students who arrive after the kill get their pages;
- the supervisor starts the killed process again (it answers /_stcore/health);
- SIGTERM stops nginx and both processes, and nothing is left listening.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from explorer import loadtest
from tests import app_models

ROOT = Path(__file__).resolve().parents[1]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PAGES = ("lstm", "rnn")
KILL_AFTER = 4.0  # seconds of class before the kill
AFTER_KILL = 8.0  # seconds of class after it


def _free_ports(n: int) -> list[int]:
    """n consecutive free ports (nginx's, then one per process)."""
    for _ in range(50):
        base = random.randint(20000, 60000)
        try:
            for p in range(base, base + n):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
            return list(range(base, base + n))
        except OSError:
            continue
    raise RuntimeError("no free ports")


def _healthy(port: int) -> bool:
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read() == b"ok"
    except OSError:
        return False


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def served(tmp_path):
    if not Path(NGINX).exists():
        if os.environ.get("GATESCOPE_REQUIRE_NGINX") == "1":
            pytest.fail(f"{NGINX} is missing (apt-get install nginx) and GATESCOPE_REQUIRE_NGINX=1")
        pytest.skip("nginx is not installed")
    models = app_models.models_for_tests(tmp_path / "models")
    front, *workers = _free_ports(3)
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "explorer.serve", "--port", str(front), "--workers", "2", "--address", "127.0.0.1",
         "--nginx", NGINX, "--no-warm"],
        cwd=ROOT, env=dict(os.environ, GATESCOPE_MODELS=str(models)), stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 90
    while not (_healthy(front) and all(_healthy(w) for w in workers)):
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail("explorer.serve did not come up:\n" + (tmp_path / "serve.log").read_text())
        time.sleep(0.5)
    yield proc, front, workers, tmp_path / "serve.log"
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    log.close()


async def _class(front: int, workers: list[int]) -> dict:
    base = f"http://127.0.0.1:{front}"
    rng = random.Random(7)
    sentences = loadtest.Sentences(rng)
    tabs: dict[str, list] = {f"127.0.0.1:{w}": [] for w in workers}
    runs: dict[int, list[loadtest.Run]] = {}
    # students arrive until each process has two (affinity decides where each lands)
    for i in range(20):
        if all(len(v) >= 2 for v in tabs.values()):
            break
        tab = loadtest.BrowserSession(base, timeout=60)
        run = await tab.open(PAGES[i % 2], sentences.short())
        assert run.error is None, (run.error, run.exceptions)
        assert tab.worker == tab.page_worker != "", "the page and its websocket reach the same process"
        assert tab.config.gather_usage_stats is False, "the processes read .streamlit/config.toml"
        if len(tabs[tab.worker]) < 2:
            tabs[tab.worker].append(tab)
            runs[id(tab)] = [run]
        else:
            await tab.close()
    assert all(len(v) == 2 for v in tabs.values()), f"affinity put every student on one process: {tabs}"

    async def student(tab, page: str, stop_at: float) -> None:
        while time.time() < stop_at:
            await asyncio.sleep(rng.uniform(0.1, 0.4))
            last = runs[id(tab)][-1]
            if last.error is not None:
                run = await tab.reconnect(page)
            elif rng.random() < 0.5 or not tab.controls():
                tab.type_sentence(sentences.short())
                run = await tab.rerun(loadtest.Run(page, "sentence", 0.0))
            else:
                tab.move(rng.choice(tab.controls()), rng)
                run = await tab.rerun(loadtest.Run(page, "control", 0.0))
            runs[id(tab)].append(run)

    victim, survivor = [f"127.0.0.1:{w}" for w in workers]
    pid = next(p for p in loadtest.server_pids(workers[0]) if "streamlit" in " ".join(loadtest._cmdline(p)))
    start = time.time()
    stop_at = start + KILL_AFTER + AFTER_KILL
    everyone = [student(tab, PAGES[n % 2], stop_at) for n, tab in enumerate(tabs[victim] + tabs[survivor])]

    async def kill() -> float:
        await asyncio.sleep(KILL_AFTER)
        os.kill(pid, signal.SIGKILL)
        return time.time()

    killed_at, *_ = await asyncio.gather(kill(), *everyone)
    newcomers = []
    for i in range(2):
        tab = loadtest.BrowserSession(base, timeout=60)
        newcomers.append(await tab.open(PAGES[i], sentences.short()))
        await tab.close()
    for tab in tabs[victim] + tabs[survivor]:
        await tab.close()
    return {
        "victim": [runs[id(t)] for t in tabs[victim]],
        "survivor": [runs[id(t)] for t in tabs[survivor]],
        "newcomers": newcomers,
        "killed_at": killed_at,
    }


def test_a_killed_process_is_restarted_and_the_others_do_not_notice(served):
    proc, front, workers, log = served
    result = asyncio.run(_class(front, workers))

    for student in result["survivor"]:
        errors = [(r.kind, r.error, r.exceptions) for r in student if r.error is not None]
        assert errors == [], f"a student of the process that stayed up saw: {errors}"
        assert sum(1 for r in student if r.latency and r.kind != "open") >= 3, "they kept working"
        assert all(r.worker == f"127.0.0.1:{workers[1]}" for r in student), "affinity held for the whole visit"
    for student in result["victim"]:
        assert student[-1].error is None, f"a student of the killed process did not get back: {student[-1]}"
    assert any(r.error for s in result["victim"] for r in s), "the kill reached the students of that process"
    for run in result["newcomers"]:
        assert run.error is None and run.charts > 0, (run.error, run.exceptions)

    deadline = time.time() + 60
    while not _healthy(workers[0]):
        assert time.time() < deadline, "the killed process was not started again:\n" + log.read_text()
        time.sleep(0.5)
    assert "restarting" in log.read_text()

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    assert not any(_listening(p) for p in [front, *workers]), "something explorer.serve started is still listening"
