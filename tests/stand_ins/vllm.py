"""A CPU stand-in for `vllm serve`, for testing docsight's vLLM launcher without a GPU.

It accepts the arguments docsight passes to `vllm serve` (and rejects unknown ones, as
vLLM's parser does), records them when VLLM_STANDIN_ARGV names a file, and then serves the
same OpenAI-compatible API by running llama.cpp's server with the bundled SmolLM2 GGUF
under the requested model name. VLLM_STANDIN_FAIL=gated makes it fail the way vLLM does
when a gated model is requested without access (the Hugging Face error text, exit 1).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

GATED = """\
OSError: You are trying to access a gated repo.
Make sure to have access to it at https://huggingface.co/{model}.
401 Client Error. (Request ID: Root=1-0000)
Cannot access gated repo for url https://huggingface.co/{model}/resolve/main/config.json.
Access to model {model} is restricted. You must have access to it and be authenticated."""


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="vllm")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve")
    serve.add_argument("model")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--dtype", default="auto")
    serve.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    serve.add_argument("--max-model-len", type=int)
    serve.add_argument("--seed", type=int, default=0)
    serve.add_argument("--max-num-batched-tokens", type=int)
    serve.add_argument("--enforce-eager", action="store_true")
    return parser.parse_args(argv)


def main() -> None:
    args = parse(sys.argv[1:])
    if os.environ.get("VLLM_STANDIN_ARGV"):
        with open(os.environ["VLLM_STANDIN_ARGV"], "w") as handle:
            json.dump(sys.argv[1:], handle)
    if os.environ.get("VLLM_STANDIN_FAIL") == "gated":
        print(GATED.format(model=args.model), file=sys.stderr)
        sys.exit(1)
    from engine.llm_server import bundled_gguf

    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(bundled_gguf())]
    command += ["--model_alias", args.model, "--host", args.host, "--port", str(args.port)]
    command += ["--n_ctx", str(args.max_model_len or 2048)]
    os.execv(sys.executable, command)


if __name__ == "__main__":
    main()
