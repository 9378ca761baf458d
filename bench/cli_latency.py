"""How long a person waits for the command line: medians of whole processes, started the
way a shell starts them, on docsight's own docs/ (already indexed).

Cold `docsight search` with no owner (ONNX int8, the default on a CPU, and torch for
comparison), `docsight search` served by a running `docsight watch`, `status --json`,
`indexes --json` and `--help`. Wall seconds and CPU-seconds of each. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import ROOT, emit, load_average, median

from engine.client import connect
from engine.indexes import index_dir_for

DOCSIGHT = Path(sys.executable).with_name("docsight")
QUERY = "how do I rebuild the index after changing the embedding model"


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([str(DOCSIGHT), *argv], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 2):  # --help alone exits 2 (no command)
        raise SystemExit(f"docsight {' '.join(argv)} failed: {done.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def medians(argv: list[str], env: dict[str, str], runs: int) -> dict[str, float]:
    samples = [timed(argv, env) for _ in range(runs)]
    return {
        "wall_s": round(median([wall for wall, _ in samples]), 3),
        "cpu_s": round(median([cpu for _, cpu in samples]), 3),
    }


def with_owner(folder: Path, env: dict[str, str], runs: int) -> dict[str, float]:
    watch = subprocess.Popen(
        [str(DOCSIGHT), "watch", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        index_dir = index_dir_for(folder, Path(env["DOCSIGHT_DATA_DIR"]))
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            client = connect(index_dir)
            if client is not None:
                client.ping()
                client.close()
                break
            time.sleep(0.2)
        return medians(["search", str(folder), QUERY, "--json"], env, runs)
    finally:
        watch.send_signal(signal.SIGINT)
        watch.wait(120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="runs of each command")
    args = parser.parse_args()
    load_before = load_average()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        folder = tmp / "docs"
        shutil.copytree(ROOT / "docs", folder)
        env = {**os.environ, "DOCSIGHT_DATA_DIR": str(tmp / "data")}
        timed(["index", str(folder), "--json"], env)  # the index and the ONNX export
        torch_env = {**env, "DOCSIGHT_EMBEDDING__BACKEND": "torch"}
        search = ["search", str(folder), QUERY, "--json"]
        result: dict[str, Any] = {
            "bench": "cli_latency",
            "runs": args.runs,
            "search_cold_onnx": medians(search, env, args.runs),
            "search_cold_torch": medians(search, torch_env, args.runs),
            "search_through_owner": with_owner(folder, env, args.runs),
            "status": medians(["status", str(folder), "--json"], env, args.runs),
            "indexes": medians(["indexes", "--json"], env, args.runs),
            "help": medians(["--help"], env, args.runs),
        }
    result["load_average"] = f"{load_before} -> {load_average()}"
    emit(result)


if __name__ == "__main__":
    main()
