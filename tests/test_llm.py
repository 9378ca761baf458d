"""Generation against a real llama.cpp server with the bundled SmolLM2 model: the managed
server's life (start, reuse, restart, idle stop, never ready), streaming, citations, the
prompt budget, follow-ups, and every way a server can fail. The vLLM launcher runs against
tests/stand_ins/vllm.py, which takes `vllm serve`'s arguments and speaks the same API."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from engine.answer import Answerer
from engine.config import Settings
from engine.embed import make_embedder
from engine.engine import Engine
from engine.errors import GenerationBroken, LLMUnavailable
from engine.llm import ChatClient, Endpoint
from engine.llm_server import (
    ServerPlan,
    alive,
    ensure_plan,
    ensure_server,
    free_port,
    read_record,
    stop_server,
)
from engine.types import Hit
from tests.helpers import open_engine, run_cli

REPO = Path(__file__).resolve().parent.parent
QUESTION = "How often must the signing key be rotated, and with which command?"


def wait_until(predicate: Callable[[], object], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not hold in time")
        time.sleep(0.05)


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "data"
    yield path
    stop_server(path)  # never leave a server behind


def answerer_for(engine: Engine, settings: Settings, data_dir: Path) -> Answerer:
    return Answerer(
        settings,
        engine.search,
        lambda say, cancel: ensure_server(settings, data_dir, say, cancel),
        data_dir / "conversations.sqlite",
    )


def named(pid: int | None) -> int:
    """The pid a server record names (a record without one fails the test here)."""
    assert pid is not None, "the server record names no process"
    return pid


# the managed server ------------------------------------------------------------------------
def test_the_managed_server_starts_once_and_is_shared(data_dir: Path) -> None:
    said: list[str] = []
    first = ensure_server(Settings(), data_dir, said.append)
    assert first.backend == "llamacpp" and first.model == "SmolLM2-135M-Instruct.Q4_1"
    assert first.context_length == 2048 and any("starting" in line for line in said)
    record = read_record(data_dir)
    assert record and record.state == "ready" and alive(record.server_pid)
    again = ensure_server(Settings(), data_dir)
    assert again == first, "a second command reuses the running server"
    status = run_cli("llm", "status", "--json", "--data-dir", str(data_dir))
    assert json.loads(status.stdout) == {
        "backend": "llamacpp",
        "base_url": first.base_url,
        "model": first.model,
        "context_length": 2048,
        "up": True,
        "managed_pid": record.supervisor_pid,
        "server_pid": record.server_pid,
        "state": "ready",
        "reason": None,
        "log": str(data_dir / "llm" / "server.log"),
    }
    llm_files = [p for p in (data_dir / "llm").iterdir() if not p.is_socket()]
    assert llm_files and all(p.stat().st_mode & 0o077 == 0 for p in llm_files), "private"
    assert run_cli("llm", "stop", "--data-dir", str(data_dir)).returncode == 0
    assert not alive(record.server_pid) and not alive(record.supervisor_pid)
    assert (
        json.loads(run_cli("llm", "status", "--json", "--data-dir", str(data_dir)).stdout)["up"]
        is False
    )


def test_a_dead_server_is_restarted_once(data_dir: Path) -> None:
    ensure_server(Settings(), data_dir)
    record = read_record(data_dir)
    assert record
    os.kill(named(record.server_pid), signal.SIGKILL)
    wait_until(lambda: getattr(read_record(data_dir), "server_pid", None) != record.server_pid)
    wait_until(lambda: getattr(read_record(data_dir), "state", None) == "ready")
    restarted = read_record(data_dir)
    assert restarted and alive(restarted.server_pid)
    os.kill(named(restarted.server_pid), signal.SIGKILL)
    wait_until(lambda: getattr(read_record(data_dir), "state", None) == "failed")
    assert "died twice" in getattr(read_record(data_dir), "reason", "")
    wait_until(lambda: not alive(restarted.supervisor_pid))
    assert ensure_server(Settings(), data_dir).model, "the next question starts a new one"


def test_a_killed_supervisor_takes_its_server_with_it(data_dir: Path) -> None:
    ensure_server(Settings(), data_dir)
    record = read_record(data_dir)
    assert record and alive(record.server_pid)
    os.kill(named(record.supervisor_pid), signal.SIGKILL)  # nothing left to stop the server
    wait_until(lambda: not alive(record.server_pid))
    status = json.loads(run_cli("llm", "status", "--json", "--data-dir", str(data_dir)).stdout)
    assert (status["up"], status["managed_pid"], status["server_pid"]) == (False, None, None)
    with socket.socket() as probe:  # nobody listens on its port any more
        assert probe.connect_ex(("127.0.0.1", int(record.port or 0))) != 0
    assert ensure_server(Settings(), data_dir).model, "the next question starts a new one"


def test_an_idle_server_stops_by_itself(data_dir: Path) -> None:
    settings = Settings()
    settings = replace(settings, llm=replace(settings.llm, idle_stop_minutes=0.02))
    ensure_server(settings, data_dir)
    record = read_record(data_dir)
    assert record
    wait_until(lambda: not alive(record.supervisor_pid) and not alive(record.server_pid))
    assert read_record(data_dir) is None


def plan_of(command: list[str], port: int, timeout: float) -> ServerPlan:
    return ServerPlan("llamacpp", "never", command, 2048, port, ready_timeout=timeout)


def test_a_server_that_never_answers_gives_up_in_time(data_dir: Path) -> None:
    port = free_port()
    hang = plan_of([sys.executable, "-c", "import time; time.sleep(600)"], port, 3.0)
    with pytest.raises(LLMUnavailable, match="could not start: the server was not ready after 3 s"):
        ensure_plan(hang, data_dir, lambda line: None)
    crash = plan_of([sys.executable, "-c", "raise SystemExit('no such model file')"], port, 30)
    with pytest.raises(LLMUnavailable, match="could not start: no such model file"):
        ensure_plan(crash, data_dir, lambda line: None)


def test_waiting_for_a_loading_server_can_be_cancelled(data_dir: Path) -> None:
    hang = plan_of([sys.executable, "-c", "import time; time.sleep(600)"], free_port(), 600)
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    with pytest.raises(LLMUnavailable, match="stopped waiting for llamacpp never"):
        ensure_plan(hang, data_dir, lambda line: None, cancel)
    record = read_record(data_dir)
    assert record and alive(record.supervisor_pid), "the server goes on loading for later"


# answers -------------------------------------------------------------------------------------
def words_of(text: str) -> set[str]:
    """The words of a text, without the citation markers docsight may add, move or drop."""
    return set(re.findall(r"[a-z0-9]+", re.sub(r"\[\d+\]", " ", text.lower())))


def test_ask_streams_an_answer_with_resolvable_citations(
    notes: Path, data_dir: Path, tmp_path: Path
) -> None:
    embedder = make_embedder(Settings().embedding)
    with open_engine(notes, data_dir, embedder) as engine:
        engine.sync()
        pieces: list[str] = []
        answerer = engine.answerer()
        result = answerer.ask(QUESTION, on_token=pieces.append)
        answerer.close()
    assert result.generated and not result.incomplete and len(pieces) > 1
    assert result.quote and result.answer.startswith("> "), "the sources' own words come first"
    streamed = " ".join("".join(pieces).split())
    assert result.sentences and all(
        words_of(sentence.text) <= words_of(streamed) for sentence in result.sentences
    ), "the checked sentences are the model's, with at most their markers changed"
    assert result.citations, "an answer over relevant sources ends with a citation"
    for citation in result.citations:
        assert citation.by in ("model", "attribution", "quote")
        lines = (notes / citation.path).read_text().splitlines()
        assert citation.start_line is not None and citation.end_line is not None
        assert 1 <= citation.start_line <= citation.end_line <= len(lines)
        assert f"[{citation.n}]" in result.answer
    cited = {c.path for c in result.citations} | {s.path for s in result.sources}
    assert "ops/keys.md" in cited


def test_ask_on_the_command_line_indexes_first_and_prints_the_contract(
    notes: Path, data_dir: Path
) -> None:
    done = run_cli("ask", str(notes), QUESTION, "--json", "--data-dir", str(data_dir))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) == {
        "answer", "generated", "incomplete", "reason", "citations", "sources",
        "conversation_id", "model", "seconds", "index_in_progress",
        "quote", "sentences", "declined", "followup", "relevance", "indexing",
    }  # fmt: skip
    assert result["generated"] and result["citations"] and result["model"]
    assert set(result["citations"][0]) == {"n", "path", "start_line", "end_line", "page", "by"}
    plain = run_cli(
        "ask", str(notes), "and the tomatoes?", "--conversation", result["conversation_id"],
        "--data-dir", str(data_dir),
    )  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    assert any(line.startswith("[") and ".md:" in line or ".txt:" in line
               for line in plain.stdout.splitlines())  # fmt: skip
    listed = run_cli("conversations", str(notes), "--json", "--data-dir", str(data_dir))
    [conversation] = json.loads(listed.stdout)["conversations"]
    assert conversation["id"] == result["conversation_id"] and conversation["turns"] == 2


def test_a_follow_up_retrieves_with_the_previous_question(notes: Path, data_dir: Path) -> None:
    embedder = make_embedder(Settings().embedding)
    queries: list[str] = []
    with open_engine(notes, data_dir, embedder) as engine:
        engine.sync()

        def search(query: str, k: int, prefixes: Sequence[str]) -> list[Hit]:
            queries.append(query)
            return engine.search(query, k, prefixes)

        answerer = Answerer(
            Settings(),
            search,
            lambda say, cancel: ensure_server(Settings(), data_dir, say, cancel),
            data_dir / "c.sqlite",
        )
        first = answerer.ask("How often is the signing key rotated?")
        second = answerer.ask("Which command does it?", conversation_id=first.conversation_id)
        answerer.close()
    assert queries[1] == "How often is the signing key rotated?\nWhich command does it?"
    assert second.generated and second.conversation_id == first.conversation_id


def test_the_prompt_fits_a_small_context_window(tmp_path: Path, data_dir: Path) -> None:
    root = tmp_path / "long"
    root.mkdir()
    rng = random.Random(7)
    vocabulary = [
        f"{word}{n}" for word in ("key", "host", "token", "disk", "log") for n in range(80)
    ]
    for n in range(6):  # distinct passages (near-duplicates would be dropped), all on topic
        paragraphs = [
            "Rotating the signing key: " + " ".join(rng.choices(vocabulary, k=70)) + "."
            for _ in range(12)
        ]
        (root / f"guide{n}.md").write_text("\n\n".join(paragraphs) + "\n")
    settings = Settings()
    settings = replace(
        settings,
        llm=replace(settings.llm, context_length=768, max_tokens=128),
        retrieval=replace(settings.retrieval, top_k=10),
    )
    embedder = make_embedder(settings.embedding)
    with open_engine(root, data_dir, embedder, settings) as engine:
        engine.sync()
        answerer = answerer_for(engine, settings, data_dir)
        result = answerer.ask("how is the signing key rotated?")
        answerer.close()
    assert result.generated and not result.incomplete, result.reason  # the server took it
    assert len(result.contexts) > 2


def test_a_server_killed_mid_stream_keeps_the_partial_answer(notes: Path, data_dir: Path) -> None:
    embedder = make_embedder(Settings().embedding)
    ensure_server(Settings(), data_dir)
    record = read_record(data_dir)
    assert record
    pieces: list[str] = []

    def kill_after_first(piece: str) -> None:
        pieces.append(piece)
        if len(pieces) == 1:
            os.kill(named(record.server_pid), signal.SIGKILL)

    with open_engine(notes, data_dir, embedder) as engine:
        engine.sync()
        answerer = engine.answerer()
        result = answerer.ask(
            "Explain in detail, step by step, everything about rotating the signing key.",
            on_token=kill_after_first,
        )
        answerer.close()
    assert result.generated and result.incomplete and "broke off" in result.reason
    assert pieces and words_of("".join(pieces)) <= words_of(result.answer), "what came is kept"


# a server's errors, one line each ------------------------------------------------------------
def endpoint_at(port: int, model: str = "m", context: int = 2048) -> Endpoint:
    return Endpoint(f"http://127.0.0.1:{port}/v1", model, "openai", context)


def stream_all(client: ChatClient, content: str = "hi") -> str:
    pieces = client.stream(
        [{"role": "user", "content": content}], temperature=0.2, top_p=0.95, max_tokens=16
    )
    return "".join(pieces)


def test_connection_refused_and_timeout_are_one_line_reasons() -> None:
    with pytest.raises(LLMUnavailable, match="cannot reach the model server"):
        stream_all(ChatClient(endpoint_at(free_port())))
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        client = ChatClient(endpoint_at(silent.getsockname()[1]), read_timeout=1.0)
        with pytest.raises(LLMUnavailable, match="did not answer in time"):
            stream_all(client)


def test_a_prompt_longer_than_the_context_is_a_one_line_reason(data_dir: Path) -> None:
    endpoint = ensure_server(Settings(), data_dir)
    with pytest.raises(LLMUnavailable, match="longer than the model's context") as error:
        stream_all(ChatClient(endpoint), "word " * 5000)
    assert "\n" not in str(error.value) and "2048" in str(error.value)
    assert ChatClient(endpoint).count_tokens("rotate the signing key") == 4


class _VLLMErrors(BaseHTTPRequestHandler):
    """vLLM's failures, as it sends them: a 404 for a model it does not serve; two streamed
    pieces and then an error event when generation fails on the GPU."""

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if request["model"] != "m":
            message = f"The model `{request['model']}` does not exist."
            body = json.dumps(
                {"object": "error", "type": "NotFoundError", "code": 404, "message": message}
            )
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for piece in ("Rotate the ", "signing key"):
            chunk = {"id": "1", "object": "chat.completion.chunk", "created": 0, "model": "m",
                     "choices": [{"index": 0, "delta": {"content": piece}}]}  # fmt: skip
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        error = {"error": {"message": "CUDA error: an illegal memory access", "code": 500}}
        self.wfile.write(f"data: {json.dumps(error)}\n\n".encode())
        self.wfile.flush()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def vllm_errors() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _VLLMErrors)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


def test_an_unknown_model_is_named(vllm_errors: int) -> None:
    with pytest.raises(LLMUnavailable, match="has no model 'llama-9b' \\(check llm.model\\)"):
        stream_all(ChatClient(endpoint_at(vllm_errors, model="llama-9b")))


def test_an_error_event_mid_stream_keeps_what_arrived(vllm_errors: int) -> None:
    pieces: list[str] = []
    client = ChatClient(endpoint_at(vllm_errors))
    with pytest.raises(GenerationBroken, match="broke off.*illegal memory access"):
        for piece in client.stream(
            [{"role": "user", "content": "hi"}], temperature=0.2, top_p=0.95, max_tokens=16
        ):
            pieces.append(piece)
    assert "".join(pieces) == "Rotate the signing key"


# vLLM, through the stand-in ------------------------------------------------------------------
@pytest.fixture
def vllm_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "vllm"
    wrapper.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" "{REPO / "tests" / "stand_ins" / "vllm.py"}" "$@"\n'
    )
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    argv_file = tmp_path / "vllm-argv.json"
    monkeypatch.setenv("VLLM_STANDIN_ARGV", str(argv_file))
    return argv_file


def vllm_settings() -> Settings:
    settings = Settings()
    return replace(settings, llm=replace(settings.llm, backend="vllm"))


def test_vllm_is_started_with_the_seed_knobs(
    vllm_on_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    endpoint = ensure_server(vllm_settings(), data_dir)
    assert (endpoint.backend, endpoint.model) == ("vllm", "meta-llama/Llama-3.1-8B-Instruct")
    assert endpoint.context_length == 1000
    argv = json.loads(vllm_on_path.read_text())
    assert argv[:2] == ["serve", "meta-llama/Llama-3.1-8B-Instruct"]
    knobs = dict(zip(argv[2::2], argv[3::2], strict=False))
    assert knobs["--host"] == "127.0.0.1" and knobs["--dtype"] == "bfloat16"
    assert knobs["--gpu-memory-utilization"] == "0.5" and knobs["--max-model-len"] == "1000"
    assert knobs["--seed"] == "415" and knobs["--max-num-batched-tokens"] == "3000"
    assert argv[-1] == "--enforce-eager"
    assert stream_all(ChatClient(endpoint), "Say hello.").strip()


def test_a_gated_model_falls_back_to_the_bundled_one_and_says_why(
    vllm_on_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_without_access")
    monkeypatch.setenv("VLLM_STANDIN_FAIL", "gated")
    said: list[str] = []
    endpoint = ensure_server(vllm_settings(), data_dir, said.append)
    assert endpoint.backend == "llamacpp"
    [why] = [line for line in said if line.startswith("vLLM unavailable")]
    assert "gated" in why and "HF_TOKEN" in why and "\n" not in why


def test_no_token_says_what_to_do_before_starting_vllm(
    vllm_on_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(data_dir / "no-hf-home"))
    said: list[str] = []
    endpoint = ensure_server(vllm_settings(), data_dir, said.append)
    assert endpoint.backend == "llamacpp" and not vllm_on_path.exists()
    assert any("set HF_TOKEN" in line for line in said)


@pytest.mark.gpu
@pytest.mark.skipif(
    not Path("/dev/nvidia0").exists(),
    reason="needs a CUDA GPU, the vllm extra and Llama 3.1 8B weights (none on these machines)",
)
def test_real_vllm_answers(data_dir: Path) -> None:
    endpoint = ensure_server(vllm_settings(), data_dir)
    assert endpoint.backend == "vllm"
    assert stream_all(ChatClient(endpoint), "Say hello.").strip()


def test_a_server_named_by_base_url_is_used_as_it_is(data_dir: Path, notes: Path) -> None:
    managed = ensure_server(Settings(), data_dir)
    settings = Settings()
    settings = replace(
        settings, llm=replace(settings.llm, backend="openai", base_url=managed.base_url)
    )
    endpoint = ensure_server(settings, data_dir / "elsewhere")
    assert (endpoint.base_url, endpoint.model) == (managed.base_url, managed.model)
    assert endpoint.managed_pid is None and not (data_dir / "elsewhere" / "llm").exists()


def test_with_no_model_at_all_ask_still_answers_with_passages(notes: Path, data_dir: Path) -> None:
    env_url = f"http://127.0.0.1:{free_port()}/v1"
    done = subprocess.run(
        [sys.executable, "-m", "tui.cli", "ask", str(notes), QUESTION, "--json",
         "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=300, cwd=REPO,
        env={**os.environ, "DOCSIGHT_LLM__BASE_URL": env_url},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["generated"] is False and "no model server answers" in result["reason"]
    assert result["quote"] and "keyctl rotate" in result["answer"], "the quote is the answer"
    assert result["citations"][0]["path"] == "ops/keys.md"
    assert result["citations"][0]["by"] == "quote"
