"""Serve a class from one machine: several Streamlit processes behind nginx.

    python -m explorer.serve --port 8080 --workers 2

One Streamlit process runs every session's script on threads that share one
GIL, so a second core only helps with a second process. This starts
``--workers`` Streamlit processes on the loopback address (ports
``--port``+1 ...) and nginx (Debian's package ``nginx``) in front of them on
``--port``:

- websockets pass through (``Upgrade``/``Connection`` headers, long read timeout);
- session affinity: nginx gives each browser a cookie (``gatescope_worker``) on
  its first request and routes by a consistent hash of it, so a browser stays on
  one process for its whole visit, page, websocket, downloads and media alike
  (``ip_hash`` would send a whole classroom behind one NAT, or every test
  client on 127.0.0.1, to one process);
- a process that does not answer is skipped (``proxy_next_upstream``), so the
  users of a dead process reconnect to another one and carry on; this
  supervisor checks ``/_stcore/health`` of every process every few seconds,
  restarts one that exited or stopped answering, and loads its models again
  before users come back to it; the other processes and their users are not
  touched;
- nginx runs in the foreground as a child, with its own configuration, logs and
  temporary files in a temporary folder (nothing system-wide is changed), as
  root (its workers then run as ``nobody``) or as any other user;
- SIGTERM or Ctrl+C stops nginx and every process this started, and removes the
  folder.

The Streamlit processes start in the repository root, so they read
``.streamlit/config.toml`` like ``streamlit run explorer/app.py`` does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

COOKIE = "gatescope_worker"
HEALTH_EVERY = 2.0  # seconds between health checks of each process
HEALTH_TIMEOUT = 5.0
UNHEALTHY_AFTER = 5  # failed checks in a row before a running process is restarted (a busy one answers late)
START_TIMEOUT = 120.0  # seconds for a process to answer its first health check
WARM_PAGES = ("rnn", "lstm", "bidirectional", "attention", "memory")  # together they load every model


def log(msg: str) -> None:
    print(f"[serve {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _child_prefix() -> list[str]:
    """Children die with this process even when it is killed outright (SIGKILL leaves no time to stop them)."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "SIGTERM", "--"] if setpriv else []


def healthy(port: int, timeout: float = HEALTH_TIMEOUT) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=timeout) as r:
            return r.status == 200 and r.read().strip() == b"ok"
    except Exception:
        return False


class Worker:
    """One Streamlit process on a loopback port."""

    def __init__(self, index: int, port: int, folder: Path, env: dict):
        self.index, self.port, self.folder, self.env = index, port, folder, env
        self.proc: subprocess.Popen | None = None
        self.failures = 0
        self.restarts = 0
        self.ready = False

    @property
    def log_path(self) -> Path:
        return self.folder / f"worker-{self.index}.log"

    def start(self) -> None:
        cmd = _child_prefix() + [
            sys.executable, "-m", "streamlit", "run", "explorer/app.py",
            "--server.port", str(self.port),
            "--server.address", "127.0.0.1",  # reachable only through nginx
            "--server.headless", "true",
            "--server.fileWatcherType", "none",  # a class server does not reload on file changes
            "--server.runOnSave", "false",
        ]
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                cmd, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.failures, self.ready, self.started = 0, False, time.time()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass


def warm(port: int) -> None:
    """Load the models of a fresh process (a short sentence on each page) before students reach it."""
    from explorer.loadtest import BrowserSession

    async def visit() -> None:
        for page in WARM_PAGES:
            tab = BrowserSession(f"http://127.0.0.1:{port}", timeout=START_TIMEOUT)
            try:
                await tab.open(page, "I grew up in France. I speak fluent")
            finally:
                await tab.close()

    try:
        asyncio.run(visit())
    except Exception as e:  # warming is a courtesy: a process that fails it is still checked by health
        log(f"warming the process on port {port} failed: {type(e).__name__}: {e}")


def nginx_config(folder: Path, address: str, port: int, worker_ports: list[int], as_root: bool) -> str:
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;" for p in worker_ports)
    user = "user nobody nogroup;  # nginx was started as root: its worker processes drop to nobody\n" if as_root else ""
    return f"""# generated by explorer.serve; lives only as long as that process
{user}worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/nginx-error.log warn;
events {{
    worker_connections 4096;
}}
http {{
    access_log {folder}/nginx-access.log;
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    default_type application/octet-stream;

    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ""      close;
    }}
    # a browser without the cookie gets one, and the same value routes its first request
    map $cookie_{COOKIE} $affinity {{
        ""      $request_id;
        default $cookie_{COOKIE};
    }}
    map $cookie_{COOKIE} $affinity_cookie {{
        ""      "{COOKIE}=$request_id; Path=/; HttpOnly; SameSite=Lax";
        default "";
    }}
    upstream streamlit {{
        hash $affinity consistent;
{servers}
    }}
    server {{
        listen {address}:{port};
        location / {{
            proxy_pass http://streamlit;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_connect_timeout 2s;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
            proxy_next_upstream error timeout http_502 http_503;
            proxy_max_temp_file_size 0;
            add_header Set-Cookie $affinity_cookie;
            add_header X-Gatescope-Worker $upstream_addr always;
        }}
    }}
}}
"""


class Supervisor:
    def __init__(self, port: int, workers: int, address: str, first_worker_port: int, nginx: str, warm: bool):
        self.port, self.address, self.nginx_bin, self.warm = port, address, nginx, warm
        self.folder = Path(tempfile.mkdtemp(prefix="gatescope-serve-"))
        os.chmod(self.folder, 0o711)  # nginx's workers (nobody, when started as root) reach their temp folders
        env = dict(os.environ)
        # one secret for all processes: a cookie one process signed is valid on the others after a failover
        env.setdefault("STREAMLIT_SERVER_COOKIE_SECRET", secrets.token_hex(32))
        # torch would start one compute thread per core in every process: N processes on N cores would
        # then run N*N threads that fight for the same cores
        threads = str(max(1, (os.cpu_count() or 1) // workers))
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(var, threads)
        self.workers = [Worker(i, first_worker_port + i, self.folder, env) for i in range(workers)]
        self.nginx: subprocess.Popen | None = None
        self.stopping = threading.Event()

    # -- nginx --------------------------------------------------------------------------------------
    def _nginx_cmd(self) -> list[str]:
        conf = self.folder / "nginx.conf"
        return [self.nginx_bin, "-p", str(self.folder), "-c", str(conf), "-e", str(self.folder / "nginx-error.log"),
                "-g", "daemon off;"]

    def start_nginx(self) -> None:
        conf = self.folder / "nginx.conf"
        conf.write_text(
            nginx_config(self.folder, self.address, self.port, [w.port for w in self.workers], os.geteuid() == 0)
        )
        check = subprocess.run(self._nginx_cmd() + ["-t", "-q"], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nginx rejected its configuration ({conf}):\n{check.stderr.strip()}")
        self.nginx = subprocess.Popen(_child_prefix() + self._nginx_cmd(), start_new_session=True)

    # -- the processes ------------------------------------------------------------------------------
    def _warm_async(self, w: Worker) -> None:
        if self.warm:
            threading.Thread(target=warm, args=(w.port,), daemon=True, name=f"warm-{w.port}").start()

    def check(self, w: Worker) -> None:
        """Restart a process that exited, or that stopped answering its health check."""
        code = w.proc.poll()
        if code is None:
            if healthy(w.port):
                if not w.ready:
                    w.ready = True
                    log(f"process {w.index} (port {w.port}) is up after {time.time() - w.started:.0f} s")
                    self._warm_async(w)
                w.failures = 0
                return
            w.failures += 1
            limit_reached = w.failures >= UNHEALTHY_AFTER if w.ready else time.time() - w.started > START_TIMEOUT
            if not limit_reached:
                return
            log(f"process {w.index} (port {w.port}) does not answer /_stcore/health; restarting it")
            w.stop(signal.SIGKILL)
            w.proc.wait()
        else:
            log(f"process {w.index} (port {w.port}) exited with code {code}; restarting it (log: {w.log_path})")
        if self.stopping.is_set():
            return
        w.restarts += 1
        w.start()

    def run(self) -> int:
        for w in self.workers:
            w.start()
        deadline = time.time() + START_TIMEOUT
        while not all(w.ready for w in self.workers):
            if self.stopping.is_set():
                return 0
            if time.time() > deadline:
                log(f"the Streamlit processes did not start within {START_TIMEOUT:.0f} s; "
                    f"see {self.folder}/worker-*.log")
                return 1
            for w in self.workers:
                if w.proc.poll() is not None:
                    log(f"process {w.index} exited at start with code {w.proc.returncode}; see {w.log_path}")
                    return 1
                if not w.ready and healthy(w.port, timeout=1.0):
                    w.ready = True
                    self._warm_async(w)
            self.stopping.wait(0.5)
        self.start_nginx()
        shown = "127.0.0.1" if self.address in ("0.0.0.0", "") else self.address
        log(f"{len(self.workers)} processes (ports {', '.join(str(w.port) for w in self.workers)}) behind nginx: "
            f"http://{shown}:{self.port}  (logs in {self.folder}; Ctrl+C stops)")
        while not self.stopping.wait(HEALTH_EVERY):
            if self.nginx.poll() is not None:
                log(f"nginx exited with code {self.nginx.returncode}; restarting it "
                    f"(log: {self.folder}/nginx-error.log)")
                self.start_nginx()
            for w in self.workers:
                if self.stopping.is_set():
                    break
                self.check(w)
        return 0

    def shutdown(self) -> None:
        """Stop nginx first (no new connections), then every process; whatever is left after 10 s is killed."""
        self.stopping.set()
        procs = ([self.nginx] if self.nginx else []) + [w.proc for w in self.workers if w.proc]
        for p in procs:
            if p.poll() is None:
                p.terminate()
        deadline = time.time() + 10
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(self.folder, ignore_errors=True)
        log("stopped")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m explorer.serve", description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=8080, help="where students connect (nginx)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                    help="Streamlit processes (default: one per core)")
    ap.add_argument("--address", default="0.0.0.0", help="address nginx listens on (0.0.0.0: every interface)")
    ap.add_argument("--worker-port", type=int, help="port of the first Streamlit process (default: --port + 1)")
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx", help="the nginx binary")
    ap.add_argument("--no-warm", action="store_true", help="do not load the models before students arrive")
    a = ap.parse_args(argv)
    if not Path(a.nginx).exists():
        print(f"nginx not found at {a.nginx}: install Debian's package (apt-get install nginx) or pass --nginx",
              file=sys.stderr)
        return 2
    if a.workers < 1:
        print("--workers must be at least 1", file=sys.stderr)
        return 2
    sup = Supervisor(a.port, a.workers, a.address, a.worker_port or a.port + 1, a.nginx, not a.no_warm)

    def stop(signum, frame):
        sup.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        return sup.run()
    except RuntimeError as e:
        log(str(e))
        return 1
    finally:
        sup.shutdown()


if __name__ == "__main__":
    raise SystemExit(main())
