"""Serve one class from several app processes behind nginx, on this machine.

    python deploy/serve.py --processes 2 --port 8080     # or: make class PROCESSES=2 PORT=8080

Starts N Streamlit processes of this app on 127.0.0.1 (ports after --port), all on the same runs
folder ($QLAB_RUNS_DIR or runs/) and so on the same jobs (the registry service), and Debian's nginx in
front of them with sticky sessions (deploy/nginx.conf.template). Runs until interrupted, then stops
what it started (the local Ray instance and its jobs keep running: `make stop-engine` stops them).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def nginx_config(prefix: Path, listen: str, backends: list[int]) -> str:
    from rl_core.artifacts.zips import MAX_UPLOAD_BYTES

    template = (ROOT / "deploy" / "nginx.conf.template").read_text()
    servers = "\n".join(f"        server 127.0.0.1:{port};" for port in backends)
    return template.format(prefix=prefix, listen=listen, servers=servers, upload_mb=MAX_UPLOAD_BYTES // (1024 * 1024))


def start_app(port: int, log: Path, extra: list[str]) -> subprocess.Popen:
    from rl_core.present.memory import web_malloc_env

    env = web_malloc_env({**os.environ, "SDL_VIDEODRIVER": "dummy"})  # glibc's malloc for its threads
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port)]
    command += ["--server.address", "127.0.0.1", "--server.headless", "true", *extra]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)


def wait_up(url: str, process: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(url, timeout=2).status == 200:
                return
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"error: a process exited at start ({url}); see its log") from None
            time.sleep(0.3)
    raise SystemExit(f"error: {url} did not answer within {seconds:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2, help="app processes (1 to 32)")
    parser.add_argument("--port", type=int, default=8080, help="nginx listens here; apps on the next ports")
    parser.add_argument("--host", default="127.0.0.1", help="nginx's address (0.0.0.0 for a class's network)")
    parser.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    parser.add_argument("--state-dir", default=None, help="where nginx's config and logs go (a temp dir)")
    args, streamlit_args = parser.parse_known_args(argv)
    if not 1 <= args.processes <= 32:
        parser.error(f"--processes must be in 1..32, got {args.processes}")
    if not 1 <= args.port <= 65535 - args.processes:
        parser.error(f"--port must leave room for {args.processes} app ports, got {args.port}")
    if not Path(args.nginx).exists():
        parser.error(f"no nginx at {args.nginx} (apt-get install nginx, or pass --nginx)")
    prefix = Path(args.state_dir or tempfile.mkdtemp(prefix="qlab-nginx-"))
    prefix.mkdir(parents=True, exist_ok=True)
    backends = [args.port + 1 + i for i in range(args.processes)]
    apps = [start_app(port, prefix / f"app-{port}.log", streamlit_args) for port in backends]
    proxy = None
    try:
        for port, app in zip(backends, apps):
            wait_up(f"http://127.0.0.1:{port}/_stcore/health", app)
        (prefix / "nginx.conf").write_text(nginx_config(prefix, f"{args.host}:{args.port}", backends))
        proxy = subprocess.Popen(
            [args.nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"],
            stdout=open(prefix / "nginx.out", "w"),
            stderr=subprocess.STDOUT,
        )
        print(
            f"Q-Lab on http://{args.host}:{args.port} ({args.processes} app processes: ports "
            f"{backends[0]}-{backends[-1]}; logs in {prefix})",
            flush=True,
        )
        stop = {"now": False}
        signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
        while not stop["now"]:
            if proxy.poll() is not None:
                print(f"error: nginx exited; see {prefix / 'error.log'}", file=sys.stderr)
                return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for process in [*apps, *([proxy] if proxy else [])]:
            process.terminate()
        for process in [*apps, *([proxy] if proxy else [])]:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
