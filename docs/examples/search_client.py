"""Search a folder with docsight from Python, through the CLI's JSON contract.

    python search_client.py ~/notes "how do I rotate the signing key?"
"""

from __future__ import annotations

import json
import subprocess
import sys


def search(folder: str, query: str, k: int = 5) -> list[dict[str, object]]:
    result = subprocess.run(
        ["docsight", "search", folder, query, "-k", str(k), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"docsight failed ({result.returncode}): {result.stderr.strip()}")
    return list(json.loads(result.stdout)["hits"])


def main() -> None:
    folder, query = sys.argv[1], " ".join(sys.argv[2:])
    for n, hit in enumerate(search(folder, query), 1):
        where = f"page {hit['page']}" if hit["page"] else f"{hit['start_line']}-{hit['end_line']}"
        print(f"[{n}] {hit['path']}:{where}  {hit['heading']}")


if __name__ == "__main__":
    main()
