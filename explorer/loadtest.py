"""A class of simulated students against a running gatescope, over Streamlit's own websocket protocol.

    python -m explorer.loadtest --url http://127.0.0.1:8610 --sessions 20 --pause 10 --duration 120

Each student does what a browser tab does: it fetches the page by its URL
(``/lstm?sentence=...``, which also brings the proxy's affinity cookie), opens
``/_stcore/stream`` and sends a ``rerun_script`` BackMsg (a ``ClientState``
with the query string, the page, the widget states and the hashes of the
messages it has cached); the run ends with the ForwardMsg ``script_finished``.
Then, after a think time (exponential, mean ``--pause`` seconds), it types a
fresh sentence (held-out corpus text; one in five a paragraph of about 300
words), moves one of the page's controls, or goes to another page, each a new
run with the widget states the browser would send. Like the browser it keeps
the messages the server marked cacheable and names them in the next request,
so the server sends a reference instead of an unchanged chart.

Reported per page: p50/p95/p99 of the time from the request to
``script_finished``; runs per second; errors (exception boxes, dropped
connections, failed connects), timeouts; bytes per run; and the resident
memory and CPU of every server process, sampled during the run (the processes
whose command line names the port, and their children; or ``--pid``).

Traffic goes only to 127.0.0.1 (the URL is refused otherwise), and every loop is
bounded: ``--duration`` seconds and ``--max-runs`` runs per student.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PAGES = ("lstm", "attention", "memory", "rnn")  # the mix: the costly pages
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
LONG_SHARE = 0.2  # one fresh sentence in five is a paragraph
LONG_WORDS = 300
SENTENCE_BOX = "Sentence"  # the sidebar's text area (explorer.common.sentence_frame)
FIXED_WIDGETS = {SENTENCE_BOX, "Lecture examples"}  # the frame's own controls: a student types instead
WORKER_HEADER = "x-gatescope-worker"  # set by explorer.serve's nginx: which process answered


# -- what a student types -----------------------------------------------------------------------
class Sentences:
    """Fresh text from the held-out corpus split: two random sentences joined (so caches miss),
    or a paragraph of about ``LONG_WORDS`` words."""

    def __init__(self, rng: random.Random):
        from core import corpus

        self.pool = corpus.sentences("test")
        self.rng = rng

    def short(self) -> str:
        return " ".join(self.rng.sample(self.pool, 2))

    def paragraph(self) -> str:
        words: list[str] = []
        while len(words) < LONG_WORDS:
            words += self.rng.choice(self.pool).split()
        return " ".join(words[:LONG_WORDS])

    def fresh(self) -> tuple[str, bool]:
        if self.rng.random() < LONG_SHARE:
            return self.paragraph(), True
        return self.short(), False


# -- the browser side of the protocol ------------------------------------------------------------
@dataclass
class Widget:
    """A control as the browser holds it: its id, kind and current value (None: nothing to report)."""

    id: str
    kind: str
    label: str
    proto: object
    value: object = None

    def state(self):
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        if self.value is None:
            return None
        w = WidgetState(id=self.id)
        if self.kind in ("text_area", "text_input", "selectbox", "radio"):
            w.string_value = self.value
        elif self.kind == "slider":
            w.double_array_value.data[:] = list(self.value)
        elif self.kind == "checkbox":
            w.bool_value = self.value
        elif self.kind == "multiselect":
            w.string_array_value.data[:] = list(self.value)
        elif self.kind == "number_input":
            w.double_value = self.value
        return w


def _widget(kind: str, el) -> Widget | None:
    """The widget a delta draws, with the value the browser would report for it."""
    if kind in ("text_area", "text_input"):
        default = el.default if el.HasField("default") else ""
        return Widget(el.id, kind, el.label, el, el.value if el.set_value else default)
    if kind in ("selectbox", "radio"):
        if el.set_value:
            value = el.raw_value if el.HasField("raw_value") else None
        else:
            value = el.options[el.default] if el.HasField("default") and el.default < len(el.options) else None
        return Widget(el.id, kind, el.label, el, value)
    if kind == "slider":
        return Widget(el.id, kind, el.label, el, tuple(el.value if el.set_value else el.default))
    if kind == "checkbox":
        return Widget(el.id, kind, el.label, el, el.value if el.set_value else el.default)
    if kind == "multiselect":
        if el.set_value:
            value = tuple(el.raw_values)
        else:
            value = tuple(el.options[i] for i in el.default)
        return Widget(el.id, kind, el.label, el, value)
    if kind == "number_input":
        return Widget(el.id, kind, el.label, el, el.value if el.set_value else el.default)
    return None


@dataclass
class Run:
    """One script run as a student saw it."""

    page: str
    kind: str  # open, sentence, control, page, reconnect
    started: float
    latency: float | None = None  # seconds to script_finished; None when it failed or timed out
    bytes: int = 0
    charts: int = 0
    exceptions: list[str] = field(default_factory=list)
    error: str | None = None  # "timeout", "disconnected", "connect: ...", "exception", "compile error"
    long: bool = False
    worker: str = ""
    student: int = -1


class BrowserSession:
    """One browser tab: an affinity cookie, a websocket, the widgets on screen, the message cache."""

    def __init__(self, base: str, timeout: float = 60.0):
        u = urllib.parse.urlsplit(base)
        if u.hostname not in LOOPBACK:
            raise ValueError(f"the load generator only talks to the loopback address, not {u.hostname!r}")
        self.base = base.rstrip("/")
        self.host = u.netloc
        self.timeout = timeout
        self.cookies: dict[str, str] = {}
        self.worker = ""  # the process behind the websocket, as explorer.serve's nginx names it
        self.page_worker = ""  # the process that answered the page request
        self.ws = None
        self.reader: asyncio.Task | None = None
        self.session_id = ""
        self.config = None  # NewSession.config of the server: usage statistics, toolbar
        self.pages: dict[str, str] = {}  # url path -> page_script_hash
        self.page_hash = ""
        self.query = ""
        self.widgets: dict[str, Widget] = {}
        self.cache: dict[str, list] = {}  # hash -> [ForwardMsg, age in runs]
        self._run: Run | None = None
        self._paths: dict[tuple, str] = {}
        self._seen_widgets: dict[str, Widget] = {}
        self._finished = asyncio.Event()
        self._closed = asyncio.Event()

    # -- connection --------------------------------------------------------------------------
    async def _get(self, path_query: str) -> None:
        """The page request a browser makes first: it carries the proxy's affinity cookie and worker header."""
        reader, writer = await asyncio.wait_for(asyncio.open_connection(*self._addr()), self.timeout)
        try:
            cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            req = f"GET {path_query} HTTP/1.1\r\nHost: {self.host}\r\nConnection: close\r\n"
            if cookie:
                req += f"Cookie: {cookie}\r\n"
            writer.write((req + "\r\n").encode())
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.timeout)
            status = int(head.split(b" ", 2)[1])
            if status != 200:
                raise ConnectionError(f"GET {path_query.split('?')[0]} answered {status}")
            for line in head.decode("latin-1").split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.lower() == "set-cookie":
                    k, _, v = value.strip().split(";")[0].partition("=")
                    self.cookies[k] = v
                elif name.lower() == WORKER_HEADER:
                    self.page_worker = value.strip()
            while await asyncio.wait_for(reader.read(65536), self.timeout):
                pass
        finally:
            writer.close()

    def _addr(self) -> tuple[str, int]:
        u = urllib.parse.urlsplit(self.base)
        return u.hostname, u.port or 80

    async def connect(self, path_query: str) -> None:
        from websockets.asyncio.client import connect

        await self._get(path_query)
        headers = {}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        protocols = ["streamlit"] + (["xsrf", self.session_id] if self.session_id else [])
        ws_url = self.base.replace("http", "ws", 1) + "/_stcore/stream"
        self.ws = await asyncio.wait_for(
            connect(
                ws_url, subprotocols=protocols, additional_headers=headers, max_size=None, open_timeout=self.timeout
            ),
            self.timeout,
        )
        self.worker = self.ws.response.headers.get(WORKER_HEADER, "")
        self._closed.clear()
        self.reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            self.reader.cancel()
            try:
                await self.reader
            except (asyncio.CancelledError, Exception):
                pass
        self.ws = self.reader = None

    # -- receiving ---------------------------------------------------------------------------------
    async def _read(self) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        try:
            async for data in self.ws:
                msg = ForwardMsg()
                msg.ParseFromString(data)
                if self._run is not None:
                    self._run.bytes += len(data)
                self._handle(msg)
        except Exception:
            pass
        finally:
            self._closed.set()

    def _handle(self, msg) -> None:
        kind = msg.WhichOneof("type")
        if msg.metadata.cacheable and msg.hash:
            self.cache[msg.hash] = [msg, 0]
        if kind == "ref_hash":
            cached = self.cache.get(msg.ref_hash)
            if cached is None:
                if self._run is not None:
                    self._run.exceptions.append(f"reference to a message not cached: {msg.ref_hash}")
                return
            cached[1] = 0
            full = type(msg)()
            full.CopyFrom(cached[0])
            full.metadata.CopyFrom(msg.metadata)  # the reference says where the cached element goes
            msg, kind = full, full.WhichOneof("type")
        if kind == "new_session":
            self.session_id = msg.new_session.initialize.session_id or self.session_id
            self.config = msg.new_session.config
        elif kind == "navigation":
            self.pages = {p.url_pathname: p.page_script_hash for p in msg.navigation.app_pages}
            self.page_hash = msg.navigation.page_script_hash
        elif kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string
        elif kind == "delta" and self._run is not None:
            delta = msg.delta
            if delta.WhichOneof("type") == "new_element":
                el_kind = delta.new_element.WhichOneof("type")
                self._paths[tuple(msg.metadata.delta_path)] = el_kind
                if el_kind == "exception":
                    ex = delta.new_element.exception
                    self._run.exceptions.append(f"{ex.type}: {ex.message}")
                w = _widget(el_kind, getattr(delta.new_element, el_kind))
                if w is not None:
                    old = self.widgets.get(w.id)
                    if old is not None and not getattr(w.proto, "set_value", False):
                        w.value = old.value  # the browser keeps what the student chose
                    self._seen_widgets[w.id] = w
            else:
                self._paths[tuple(msg.metadata.delta_path)] = delta.WhichOneof("type")
        elif kind == "script_finished":
            status = msg.script_finished
            if status == ForwardMsgStatus.EARLY_FOR_RERUN:
                return
            if self._run is not None:
                if status == ForwardMsgStatus.COMPILE_ERROR:
                    self._run.error = "compile error"
                # elements drawn in this run are what the page shows; the rest is stale and goes
                self._run.charts = sum(1 for k in self._paths.values() if k == "plotly_chart")
                self.widgets = dict(self._seen_widgets)
                self._age_cache()
            self._finished.set()

    def _age_cache(self) -> None:
        """The browser's ForwardMsgCache: messages unused for more runs than the server allows are dropped."""
        limit = self.config.max_cached_message_age if self.config is not None else 2
        for h in list(self.cache):
            self.cache[h][1] += 1
            if self.cache[h][1] > limit:
                del self.cache[h]

    # -- sending ------------------------------------------------------------------------------------
    async def rerun(self, run: Run, page_name: str = "") -> Run:
        """Send a rerun_script with the browser's state and wait for script_finished (or an error)."""
        from streamlit.proto.BackMsg_pb2 import BackMsg

        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = self.query
        cs.page_script_hash = "" if page_name else self.page_hash
        cs.page_name = page_name
        cs.cached_message_hashes.extend(self.cache)
        cs.context_info.timezone = "UTC"
        cs.context_info.locale = "en-US"
        cs.context_info.url = f"{self.base}/{page_name}?{self.query}"
        for w in self.widgets.values():
            state = w.state()
            if state is not None:
                cs.widget_states.widgets.append(state)
        self._run, self._paths, self._seen_widgets = run, {}, {}
        self._finished.clear()
        run.started = time.perf_counter()
        run.worker = self.worker
        try:
            await self.ws.send(msg.SerializeToString())
            done, _ = await asyncio.wait(
                [asyncio.ensure_future(self._finished.wait()), asyncio.ensure_future(self._closed.wait())],
                timeout=self.timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
            for task in _:
                task.cancel()
            if self._finished.is_set():
                if run.error is None:
                    run.latency = time.perf_counter() - run.started
                    if run.exceptions:
                        run.error = "exception"
            elif self._closed.is_set():
                run.error = "disconnected"
            else:
                run.error = "timeout"
        except Exception as e:  # a send on a connection that just closed
            run.error = f"disconnected ({type(e).__name__})"
        finally:
            self._run = None
        return run

    async def open(self, page: str, sentence: str, long: bool = False) -> Run:
        """A tab opened on ``/page?sentence=...``."""
        self.query = urllib.parse.urlencode({"sentence": sentence})
        return await self._connect_and_run(Run(page, "open", time.perf_counter(), long=long))

    async def reconnect(self, page: str) -> Run:
        """What the browser does when its websocket drops: connect again and rerun the same view."""
        await self.close()
        return await self._connect_and_run(Run(page, "reconnect", time.perf_counter()))

    async def _connect_and_run(self, run: Run) -> Run:
        """A websocket to ``run.page`` with this tab's query, then the page's first run."""
        try:
            await self.connect(f"/{run.page}?{self.query}")
        except Exception as e:
            run.error = f"connect: {type(e).__name__}: {e}"[:200]
            return run
        return await self.rerun(run, page_name=run.page)

    # -- what a student does ------------------------------------------------------------------------
    def type_sentence(self, text: str) -> bool:
        for w in self.widgets.values():
            if w.label == SENTENCE_BOX:
                w.value = text
                return True
        return False

    def controls(self) -> list[Widget]:
        return [
            w for w in self.widgets.values() if w.label not in FIXED_WIDGETS and not getattr(w.proto, "disabled", False)
        ]

    @staticmethod
    def move(w: Widget, rng: random.Random) -> None:
        """A new value for a control, chosen as a student might."""
        p = w.proto
        if w.kind == "slider":
            steps = int(round((p.max - p.min) / p.step)) if p.step else 0
            pick = lambda: p.min + rng.randint(0, max(steps, 0)) * (p.step or 1)  # noqa: E731
            if len(w.value) == 2:
                a, b = sorted((pick(), pick()))
                w.value = (a, b) if b > a else (p.min, p.max)
            else:
                w.value = (pick(),)
        elif w.kind in ("selectbox", "radio") and p.options:
            w.value = rng.choice(list(p.options))
        elif w.kind == "checkbox":
            w.value = not w.value
        elif w.kind == "multiselect" and p.options:
            w.value = tuple(rng.sample(list(p.options), rng.randint(1, min(3, len(p.options)))))
        elif w.kind == "number_input":
            lo = p.min if p.has_min else 0
            hi = p.max if p.has_max else lo + 10
            w.value = float(rng.randint(int(lo), int(hi)))


class ForwardMsgStatus:
    SUCCESS, COMPILE_ERROR, EARLY_FOR_RERUN, FRAGMENT = 0, 1, 2, 3


# -- the server's processes ------------------------------------------------------------------------
def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d.name))
    return kids


def server_pids(port: int, roots: list[int] | None = None) -> list[int]:
    """The processes serving ``port``: ``roots`` (or those whose command line names the port) and their children."""
    me = os.getpid()
    if not roots:
        p = str(port)
        roots = []
        for d in Path("/proc").iterdir():
            if d.name.isdigit() and int(d.name) != me:
                args = _cmdline(int(d.name))
                if "explorer.loadtest" in " ".join(args):
                    continue
                if any(a == p or a.endswith(f"={p}") or a.endswith(f":{p}") for a in args[1:]):
                    roots.append(int(d.name))
    kids = _children()
    out, todo = [], list(roots)
    while todo:
        pid = todo.pop()
        if pid not in out:
            out.append(pid)
            todo += kids.get(pid, [])
    return sorted(out)


def _proc_sample(pid: int) -> tuple[str, int, float] | None:
    """(name, resident bytes, CPU seconds) of a process, or None when it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    rss = next((int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    ticks = os.sysconf("SC_CLK_TCK")
    args = _cmdline(pid)
    name = " ".join(a for a in args[:6] if a)[:80]
    return name, rss, (int(stat[11]) + int(stat[12])) / ticks


class Sampler:
    """Memory and CPU of the server's processes every ``every`` seconds (a bounded list of samples)."""

    def __init__(self, port: int, roots: list[int] | None, every: float = 5.0):
        self.port, self.roots, self.every = port, roots, every
        self.samples: list[dict] = []  # {t, procs: {pid: (name, rss, cpu)}}

    def sample(self) -> dict:
        procs = {}
        for pid in server_pids(self.port, self.roots):
            s = _proc_sample(pid)
            if s is not None:
                procs[pid] = s
        row = {"t": time.time(), "procs": procs}
        self.samples.append(row)
        return row

    async def loop(self, stop_at: float) -> None:
        while time.time() < stop_at:
            self.sample()
            await asyncio.sleep(min(self.every, max(0.0, stop_at - time.time())))
        self.sample()

    def summary(self) -> dict:
        if not self.samples:
            return {}
        totals = [sum(p[1] for p in s["procs"].values()) for s in self.samples]
        first, last = self.samples[0], self.samples[-1]
        span = last["t"] - first["t"]
        cpu = sum(p[2] for p in last["procs"].values()) - sum(
            first["procs"][pid][2] for pid in last["procs"] if pid in first["procs"]
        )
        per_proc = {}
        for pid in last["procs"]:
            series = [s["procs"][pid][1] for s in self.samples if pid in s["procs"]]
            per_proc[pid] = {
                "name": last["procs"][pid][0],
                "rss_first_mb": series[0] / 2**20,
                "rss_last_mb": series[-1] / 2**20,
                "rss_max_mb": max(series) / 2**20,
            }
        half = [(s["t"], t) for s, t in zip(self.samples, totals)][len(totals) // 2 :]
        return {
            "processes": len(last["procs"]),
            "rss_total_first_mb": totals[0] / 2**20,
            "rss_total_last_mb": totals[-1] / 2**20,
            "rss_total_max_mb": max(totals) / 2**20,
            "rss_slope_mb_per_min_second_half": _slope(half) * 60 / 2**20,
            "cpu_cores_used": cpu / span if span > 0 else None,
            "per_process": per_proc,
            "timeline": [(round(s["t"] - first["t"], 1), round(t / 2**20, 1)) for s, t in zip(self.samples, totals)],
        }


def _slope(points: list[tuple[float, float]]) -> float:
    if len(points) < 2:
        return 0.0
    xs, ys = zip(*points)
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0


# -- a class --------------------------------------------------------------------------------------
@dataclass
class Options:
    url: str
    sessions: int = 10
    pause: float = 10.0
    duration: float = 60.0
    max_runs: int = 1000
    pages: tuple[str, ...] = PAGES
    timeout: float = 60.0
    seed: int = 0
    ramp: float = 10.0  # seconds over which the students arrive (uniformly)
    sentence_share: float = 0.5  # of actions after opening: new sentence; the rest move a control (or change page)
    page_share: float = 0.1
    warmup: bool = True
    sample_every: float = 5.0
    pids: list[int] | None = None


async def student(i: int, opt: Options, runs: list[Run], stop_at: float) -> None:
    rng = random.Random(opt.seed * 1000 + i)
    sentences = Sentences(rng)
    page = opt.pages[i % len(opt.pages)]
    tab = BrowserSession(opt.url, opt.timeout)
    await asyncio.sleep(rng.uniform(0, opt.ramp))
    text, long = sentences.fresh()
    run = await tab.open(page, text, long)
    run.student = i
    runs.append(run)
    try:
        for _ in range(opt.max_runs - 1):
            if opt.pause:
                await asyncio.sleep(min(rng.expovariate(1 / opt.pause), max(0.0, stop_at - time.time())))
            if time.time() >= stop_at:
                break
            if run.error and run.error != "exception":  # the tab lost its server: reconnect as the browser does
                run = await tab.reconnect(page)
                run.student = i
                runs.append(run)
                continue
            r = rng.random()
            controls = tab.controls()
            if r < opt.page_share and len(tab.pages) > 1:
                page = rng.choice([p for p in opt.pages if p != page and p in tab.pages] or [page])
                tab.page_hash = tab.pages[page]
                run = Run(page, "page", 0.0)
            elif r < opt.page_share + opt.sentence_share or not controls:
                text, long = sentences.fresh()
                tab.type_sentence(text)
                run = Run(page, "sentence", 0.0, long=long)
            else:
                tab.move(rng.choice(controls), rng)
                run = Run(page, "control", 0.0)
            run.student = i
            runs.append(await tab.rerun(run))
    finally:
        await tab.close()


async def warm(url: str, pages: tuple[str, ...], timeout: float = 120.0) -> None:
    """Load every model once (the first run on a fresh server reads them from disk)."""
    rng = random.Random(12345)
    sentences = Sentences(rng)
    for page in pages:
        tab = BrowserSession(url, timeout)
        try:
            await tab.open(page, sentences.paragraph())
        finally:
            await tab.close()


async def run_class(opt: Options) -> dict:
    port = urllib.parse.urlsplit(opt.url).port or 80
    Sentences(random.Random(0))  # reads the corpus now, not on the clock
    if opt.warmup:
        await warm(opt.url, opt.pages)
    sampler = Sampler(port, opt.pids, opt.sample_every)
    runs: list[Run] = []
    t0, w0 = time.time(), time.perf_counter()
    stop_at = t0 + opt.duration
    cpu0 = time.process_time()
    sampling = asyncio.create_task(sampler.loop(stop_at))
    await asyncio.gather(*(student(i, opt, runs, stop_at) for i in range(opt.sessions)))
    elapsed = time.time() - t0
    await sampling
    # throughput counts the runs that ended inside the window: the last runs, still going when it
    # closed, would otherwise stretch the time they are divided by
    in_window = sum(1 for r in runs if r.latency is not None and r.started + r.latency <= w0 + opt.duration)
    return report(runs, elapsed, in_window / opt.duration, sampler, opt, time.process_time() - cpu0)


def _pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


def report(runs: list[Run], elapsed: float, runs_per_s: float, sampler: Sampler, opt: Options, own_cpu: float) -> dict:
    def stats(rs: list[Run]) -> dict:
        ok = [r.latency for r in rs if r.latency is not None and r.error is None]
        return {
            "runs": len(rs),
            "ok": len(ok),
            "p50_s": _pct(ok, 50),
            "p95_s": _pct(ok, 95),
            "p99_s": _pct(ok, 99),
            "max_s": max(ok) if ok else None,
            "errors": sum(1 for r in rs if r.error not in (None, "timeout")),
            "timeouts": sum(1 for r in rs if r.error == "timeout"),
        }

    done = [r for r in runs if r.latency is not None]
    nbytes = [r.bytes for r in done]
    errors: dict[str, int] = {}
    for r in runs:
        if r.error:
            errors[r.error.split(":")[0]] = errors.get(r.error.split(":")[0], 0) + 1
    return {
        "url": opt.url,
        "sessions": opt.sessions,
        "pause_s": opt.pause,
        "duration_s": opt.duration,
        "elapsed_s": round(elapsed, 1),  # the window, and the last runs finishing after it
        "runs_per_s": runs_per_s,
        "overall": stats(runs),
        "pages": {p: stats([r for r in runs if r.page == p]) for p in sorted({r.page for r in runs})},
        "long_paragraph_runs": stats([r for r in runs if r.long]),
        "bytes_per_run": {
            "mean": statistics.fmean(nbytes) if nbytes else None,
            "median": statistics.median(nbytes) if nbytes else None,
            "max": max(nbytes) if nbytes else None,
        },
        "errors_by_kind": errors,
        "exceptions": sorted({e for r in runs for e in r.exceptions})[:10],
        "workers": sorted({r.worker for r in runs if r.worker}),
        "memory": sampler.summary(),
        "generator_cpu_s": round(own_cpu, 1),
        "runs": [
            {"t": round(r.started, 3), "page": r.page, "kind": r.kind, "latency_s": r.latency, "bytes": r.bytes,
             "charts": r.charts, "error": r.error, "long": r.long, "worker": r.worker,
             "student": r.student}
            for r in runs
        ],
    }


def render(rep: dict) -> str:
    f = lambda x: "-" if x is None else f"{x:.2f}"  # noqa: E731
    lines = [
        f"{rep['sessions']} sessions, mean pause {rep['pause_s']} s, {rep['duration_s']:g} s: "
        f"{rep['runs_per_s']:.2f} runs/s, {rep['overall']['runs']} runs, "
        f"{rep['overall']['errors']} errors, {rep['overall']['timeouts']} timeouts",
        "",
        "| page | runs | p50 (s) | p95 (s) | p99 (s) | max (s) | errors | timeouts |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    rows = list(rep["pages"].items()) + [("all", rep["overall"]), ("300-word paragraphs", rep["long_paragraph_runs"])]
    for name, s in rows:
        lines.append(
            f"| {name} | {s['runs']} | {f(s['p50_s'])} | {f(s['p95_s'])} | {f(s['p99_s'])} | {f(s['max_s'])} "
            f"| {s['errors']} | {s['timeouts']} |"
        )
    b = rep["bytes_per_run"]
    if b["mean"] is not None:
        lines.append(
            f"\nbytes per run: mean {b['mean'] / 1e3:.0f} KB, median {b['median'] / 1e3:.0f} KB, "
            f"max {b['max'] / 1e3:.0f} KB"
        )
    if rep["errors_by_kind"]:
        lines.append(f"errors: {rep['errors_by_kind']}")
    if rep["exceptions"]:
        lines.append(f"exceptions: {rep['exceptions']}")
    m = rep["memory"]
    if m:
        cores = m["cpu_cores_used"]
        lines.append(
            f"server: {m['processes']} processes, "
            f"resident {m['rss_total_first_mb']:.0f} -> {m['rss_total_last_mb']:.0f} MB "
            f"(max {m['rss_total_max_mb']:.0f}; second half {m['rss_slope_mb_per_min_second_half']:+.1f} MB/min), "
            f"CPU {'-' if cores is None else f'{cores:.2f}'} cores"
        )
        for pid, p in m["per_process"].items():
            rss = f"{p['rss_first_mb']:.0f} -> {p['rss_last_mb']:.0f} MB (max {p['rss_max_mb']:.0f})"
            lines.append(f"  {pid}: {rss}  {p['name']}")
    lines.append(f"generator CPU: {rep['generator_cpu_s']} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m explorer.loadtest", description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:8501", help="the app (loopback only)")
    ap.add_argument("--sessions", type=int, default=10, help="simulated students")
    ap.add_argument("--pause", type=float, default=10.0, help="mean think time between runs, seconds (0: none)")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    ap.add_argument("--max-runs", type=int, default=1000, help="runs per student at most")
    ap.add_argument("--pages", default=",".join(PAGES), help="URL paths the students open, round robin")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds before a run counts as timed out")
    ap.add_argument("--ramp", type=float, default=10.0, help="seconds over which the students arrive "
                    "(all at once is a class told to open the link; spread over the mean pause is the steady state)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-warmup", action="store_true", help="skip loading the models before the clock starts")
    ap.add_argument("--sample-every", type=float, default=5.0, help="seconds between memory samples")
    ap.add_argument("--pid", type=int, action="append", help="server process to watch (with its children); "
                    "default: the processes whose command line names the port")
    ap.add_argument("--json", help="also write the full report (with the memory timeline) to this file")
    a = ap.parse_args(argv)
    opt = Options(
        url=a.url, sessions=a.sessions, pause=a.pause, duration=a.duration, max_runs=a.max_runs,
        pages=tuple(p for p in a.pages.split(",") if p), timeout=a.timeout, seed=a.seed, ramp=a.ramp,
        warmup=not a.no_warmup,
        sample_every=a.sample_every, pids=a.pid,
    )
    rep = asyncio.run(run_class(opt))
    if a.json:
        Path(a.json).write_text(json.dumps(rep, indent=1, default=str), encoding="utf-8")
    print(render(rep))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
