"""`python -m engine.llm_supervisor DATA_DIR`: run the planned model server and look after it.

Started detached by `engine.llm_server`, it reads the plan from DATA_DIR/llm/plan.json and
keeps DATA_DIR/llm/server.json current: "loading", then "ready" with the port and model, or
"failed" with a reason. It restarts the server once if it dies, stops it after the idle time
(no request touched DATA_DIR/llm/last_used), and on SIGTERM stops it and removes the record.
If the supervisor itself dies (even by SIGKILL), the kernel stops the server too (Linux):
a server nobody looks after must not go on listening.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from engine.llm_server import (
    diagnose,
    llm_dir,
    log_path,
    private,
    record_path,
    touch_used,
    write_record,
)
from engine.results import ServerRecord, ServerState

log = logging.getLogger("docsight.llm_supervisor")
POLL_S = 0.25
RESTARTS = 1
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with(parent_pid: int) -> None:
    """Run in the server's process before it starts: SIGTERM when `parent_pid` dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return  # not Linux: `docsight llm stop` still stops the server
    if os.getppid() != parent_pid:  # the supervisor died before prctl took effect
        os._exit(1)


class Supervisor:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.plan: dict[str, Any] = json.loads((llm_dir(data_dir) / "plan.json").read_text())
        self.server: subprocess.Popen[bytes] | None = None
        self.stopping = False

    def record(self, state: ServerState, reason: str = "", started: float | None = None) -> None:
        plan = self.plan
        record = ServerRecord(
            key=plan["key"],
            state=state,
            supervisor_pid=os.getpid(),
            server_pid=self.server.pid if self.server else None,
            backend=plan["backend"],
            model=plan["model"],
            base_url=f"http://127.0.0.1:{plan['port']}/v1",
            port=plan["port"],
            context_length=plan["context_length"],
            log=str(log_path(self.data_dir)),
            reason=reason,
            started=started,
        )
        write_record(self.data_dir, record)

    def start(self) -> bool:
        """Start the server and wait until it answers; False (and a "failed" record) if not."""
        log_file = open(log_path(self.data_dir), "ab", opener=private)  # noqa: SIM115
        offset = log_file.tell()
        env = {**os.environ, **self.plan["env"]}
        env = {name: value for name, value in env.items() if value != ""}
        supervisor = os.getpid()
        self.server = subprocess.Popen(
            self.plan["command"],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            env=env,
            preexec_fn=lambda: die_with(supervisor),  # single-threaded here: safe
        )
        log_file.close()
        self.record("loading")
        deadline = time.monotonic() + float(self.plan["ready_timeout"])
        while time.monotonic() < deadline and not self.stopping:
            if self.server.poll() is not None:
                self.record("failed", reason=diagnose(self._log_since(offset), self.plan["model"]))
                return False
            if self._answers():
                self.record("ready", started=time.time())
                touch_used(self.data_dir)
                return True
            time.sleep(POLL_S)
        wait = float(self.plan["ready_timeout"])
        self.record("failed", reason=f"the server was not ready after {wait:.0f} s")
        self.stop_server()
        return False

    def _answers(self) -> bool:
        try:
            reply = httpx.get(f"http://127.0.0.1:{self.plan['port']}/v1/models", timeout=2.0)
        except httpx.HTTPError:
            return False
        return reply.status_code == 200

    def _log_since(self, offset: int) -> str:
        with open(log_path(self.data_dir), "rb") as handle:
            handle.seek(offset)
            return handle.read()[-20_000:].decode("utf-8", "replace")

    def watch(self) -> None:
        """Until idle or told to stop: restart a dead server once, then give up."""
        restarts = 0
        idle_s = float(self.plan["idle_stop_minutes"]) * 60
        while not self.stopping:
            time.sleep(POLL_S)
            if self.server is not None and self.server.poll() is not None and not self.stopping:
                if restarts >= RESTARTS:
                    self.record("failed", reason="the server died twice")
                    return
                restarts += 1
                log.warning("the server exited (%s); restarting it", self.server.returncode)
                if not self.start():
                    return
            if idle_s > 0 and time.time() - self._last_used() > idle_s:
                log.info("idle for %.0f s: stopping", idle_s)
                break
        self.stop_server()
        record_path(self.data_dir).unlink(missing_ok=True)

    def _last_used(self) -> float:
        try:
            return (llm_dir(self.data_dir) / "last_used").stat().st_mtime
        except OSError:
            return time.time()

    def stop_server(self) -> None:
        if self.server is None or self.server.poll() is not None:
            return
        self.server.terminate()
        try:
            self.server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait()

    def on_term(self, signum: int, frame: object) -> None:
        self.stopping = True


def main(argv: list[str]) -> int:
    data_dir = Path(argv[0])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s supervisor: %(message)s")
    supervisor = Supervisor(data_dir)
    signal.signal(signal.SIGTERM, supervisor.on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if supervisor.start():
        supervisor.watch()
    else:
        supervisor.stop_server()
    if supervisor.stopping:
        record_path(data_dir).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
