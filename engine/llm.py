"""One client for every model server: the OpenAI-compatible chat-completions API, streamed.

vLLM, llama.cpp (llama-cpp-python's server or llama-server) and any hosted compatible
service all speak it, so an answer takes the same path on a laptop and on a GPU box. Errors
become `LLMUnavailable` (nothing was generated) or `GenerationBroken` (the stream broke:
the caller keeps what arrived), each with a one-line reason.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from engine.errors import GenerationBroken, LLMUnavailable

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 120.0  # between two streamed pieces; a 4k-token prompt on 2 cores takes ~20 s
MESSAGE_OVERHEAD_TOKENS = 8  # role markers a chat template wraps around each message


@dataclass(frozen=True)
class Endpoint:
    """Where answers come from: a server's URL (ending in /v1) and the model it serves."""

    base_url: str
    model: str
    backend: str
    context_length: int
    api_key: str = "not-needed"
    managed_pid: int | None = None

    @property
    def root_url(self) -> str:
        """The server root: vLLM's /tokenize and llama.cpp's /extras live beside /v1."""
        url = self.base_url.rstrip("/")
        return url[: -len("/v1")] if url.endswith("/v1") else url


Message = dict[str, str]


class ChatClient:
    """Streams chat completions from one endpoint; counts tokens with the server's tokenizer."""

    def __init__(self, endpoint: Endpoint, read_timeout: float = READ_TIMEOUT_S) -> None:
        import openai

        self.endpoint = endpoint
        self._openai = openai.OpenAI(
            base_url=endpoint.base_url,
            api_key=endpoint.api_key,
            timeout=openai.Timeout(read_timeout, connect=CONNECT_TIMEOUT_S),
            max_retries=0,
        )
        self._http = httpx.Client(timeout=httpx.Timeout(read_timeout, connect=CONNECT_TIMEOUT_S))
        self._tokenizer: str | None = None  # which tokenize endpoint answered, once known

    def close(self) -> None:
        self._openai.close()
        self._http.close()

    def stream(
        self,
        messages: list[Message],
        *,
        temperature: float,
        top_p: float,
        max_tokens: int,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        """Yield pieces of the answer as they arrive; stop quietly when `cancel` is set."""
        try:
            response: Any = self._openai.chat.completions.create(
                model=self.endpoint.model,
                messages=messages,  # type: ignore[arg-type]
                stream=True,
                temperature=temperature,
                top_p=top_p,
                max_tokens=max_tokens,
            )
        except Exception as error:
            raise LLMUnavailable(describe(error, self.endpoint)) from error
        received = chunks = False
        try:
            for chunk in response:
                chunks = True
                if cancel is not None and cancel.is_set():
                    return
                choices = getattr(chunk, "choices", None)
                piece = choices[0].delta.content if choices else None
                if piece:
                    received = True
                    yield piece
        except Exception as error:
            reason = describe(error, self.endpoint)
            if received:
                raise GenerationBroken(f"the answer broke off: {reason}") from error
            raise LLMUnavailable(reason) from error
        finally:
            response.close()
        if not chunks:
            raise LLMUnavailable(self._why_empty(messages))

    def _why_empty(self, messages: list[Message]) -> str:
        """llama-cpp-python answers a streamed request it rejects with an empty stream; the
        same request unstreamed says why (a 400 for a prompt over the context, say)."""
        try:
            # one retry: the server may have closed the connection the stream used
            self._openai.with_options(max_retries=1).chat.completions.create(
                model=self.endpoint.model,
                messages=messages,  # type: ignore[arg-type]
                max_tokens=1,
            )
        except Exception as error:
            return describe(error, self.endpoint)
        return f"the model server at {self.endpoint.base_url} sent an empty answer"

    def count_tokens(self, text: str) -> int:
        """Tokens in `text` by the server's own tokenizer; a safe over-estimate without one."""
        for name in [self._tokenizer] if self._tokenizer else ["vllm", "llamacpp"]:
            count = self._tokenize(name, text)
            if count is not None:
                self._tokenizer = name
                return count
        self._tokenizer = "estimate"
        return estimate_tokens(text)

    def count_messages(self, messages: list[Message]) -> int:
        text = "\n".join(message["content"] for message in messages)
        return self.count_tokens(text) + MESSAGE_OVERHEAD_TOKENS * len(messages)

    def _tokenize(self, name: str, text: str) -> int | None:
        if name == "estimate":
            return None
        root, model = self.endpoint.root_url, self.endpoint.model
        try:
            if name == "vllm":
                reply = self._http.post(f"{root}/tokenize", json={"model": model, "prompt": text})
            else:
                reply = self._http.post(
                    f"{root}/extras/tokenize", json={"input": text, "model": model}
                )
            if reply.status_code != 200:
                return None
            body = reply.json()
        except (httpx.HTTPError, ValueError):
            return None
        if "count" in body:
            return int(body["count"])
        tokens = body.get("tokens")
        return len(tokens) if isinstance(tokens, list) else None


def estimate_tokens(text: str) -> int:
    """An over-estimate for when the server cannot tokenize: English runs ~4 chars a token."""
    return len(text) // 3 + 1


def server_models(base_url: str, api_key: str = "", timeout: float = 3.0) -> list[dict[str, Any]]:
    """The `/v1/models` entries; raises LLMUnavailable when the server does not answer."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        reply = httpx.get(f"{base_url.rstrip('/')}/models", headers=headers, timeout=timeout)
        reply.raise_for_status()
        data = reply.json().get("data", [])
    except (httpx.HTTPError, ValueError, AttributeError) as error:
        raise LLMUnavailable(f"no model server answers at {base_url}: {error}") from error
    return [entry for entry in data if isinstance(entry, dict)]


def reported_context_length(base_url: str, entry: dict[str, Any], api_key: str = "") -> int:
    """The context window the server reports (vLLM: max_model_len; llama-server: /props)."""
    for key in ("max_model_len", "context_length", "n_ctx"):
        if isinstance(entry.get(key), int):
            return int(entry[key])
    meta = entry.get("meta")
    if isinstance(meta, dict) and isinstance(meta.get("n_ctx"), int):
        return int(meta["n_ctx"])
    root = base_url.rstrip("/").removesuffix("/v1")
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        props = httpx.get(f"{root}/props", headers=headers, timeout=3.0).json()
        return int(props["default_generation_settings"]["n_ctx"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return 0


def describe(error: BaseException, endpoint: Endpoint) -> str:
    """One line for a failed request, saying what the person can do about it."""
    import openai

    where = endpoint.base_url
    kind = type(error).__name__  # openai's transport (httpx2) raises its own classes
    if isinstance(error, openai.APITimeoutError) or "Timeout" in kind:
        return f"the model server at {where} did not answer in time"
    if isinstance(error, openai.APIConnectionError) or "ConnectError" in kind:
        return f"cannot reach the model server at {where} (is it running?)"
    if isinstance(error, openai.NotFoundError):
        return f"the server at {where} has no model {endpoint.model!r} (check llm.model)"
    if isinstance(error, openai.AuthenticationError):
        return f"the server at {where} refused the API key (check llm.api_key_env)"
    if isinstance(error, openai.BadRequestError):
        detail = _detail(error)
        if "context" in detail.lower() or "token" in detail.lower():
            return f"the prompt is longer than the model's context: {detail}"
        return f"the model server rejected the request: {detail}"
    if isinstance(error, openai.APIStatusError):
        return f"the model server answered {error.status_code}: {_detail(error)}"
    if isinstance(error, openai.APIError):
        return f"the model server reported an error: {_detail(error)}"
    if isinstance(error, httpx.HTTPError) or type(error).__module__.startswith("httpx"):
        return f"the connection to the model server broke ({kind})"
    return f"{kind}: {error}"


def _detail(error: Any) -> str:
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else None
        if message:
            return str(message).splitlines()[0][:300]
    return str(getattr(error, "message", error)).splitlines()[0][:300]
