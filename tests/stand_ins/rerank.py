"""A CPU stand-in for a cross-encoder served by vLLM (`vllm serve BAAI/bge-reranker-base`),
for testing `retrieval.rerank = "remote"` without a GPU or a model download.

It speaks vLLM's `POST /v1/rerank` (the Jina/Cohere shape: `{"model", "query",
"documents", "top_n"}` -> `{"id", "model", "usage", "results": [{"index", "document":
{"text"}, "relevance_score"}]}`, best first) and answers an unknown model the way vLLM
does (404, `{"object": "error", "type": "NotFoundError", ...}`). Its scores come from the
bundled MiniLM (the cosine of query and document): a bi-encoder standing in for a
cross-encoder, which is enough to test the protocol, the ranking and the fallback.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from engine.embed import Embedder


class RerankStandIn:
    def __init__(self, embedder: Embedder, model: str) -> None:
        self.embedder = embedder
        self.model = model
        self.requests: list[dict[str, Any]] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path != "/v1/rerank":
                    self._reply(404, {"detail": "Not Found"})
                    return
                stand_in.requests.append(body)
                if body.get("model") != stand_in.model:
                    message = f"The model `{body.get('model')}` does not exist."
                    error = {"object": "error", "message": message, "type": "NotFoundError"}
                    self._reply(404, {**error, "param": None, "code": 404})
                    return
                self._reply(200, stand_in.rerank(body))

            def _reply(self, status: int, document: dict[str, Any]) -> None:
                data = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def rerank(self, body: dict[str, Any]) -> dict[str, Any]:
        documents = list(body["documents"])
        query = self.embedder.embed_query(body["query"])
        scores = self.embedder.embed_documents(documents) @ query
        order = np.argsort(-scores)[: body.get("top_n") or len(documents)]
        results = [
            {
                "index": int(i),
                "document": {"text": documents[i]},
                "relevance_score": float(max(scores[i], 0.0)),
            }
            for i in order
        ]
        tokens = sum(len(d.split()) for d in documents)
        return {"id": "rerank-standin", "model": self.model, "usage": {"total_tokens": tokens},
                "results": results}  # fmt: skip

    def __enter__(self) -> RerankStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
