"""The small version of bench/crash_campaign.py: one real SIGKILL during a first index and
one during an edit sync, each followed by a rerun that must end equal to a fresh index
(the bench runs 20 of each on 300 files)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_a_killed_sync_reruns_to_a_fresh_index() -> None:
    result = subprocess.run(
        [sys.executable, "bench/crash_campaign.py", "--trials", "1", "--files", "20"],
        capture_output=True,
        text=True,
        timeout=1200,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    for kind in ("first", "edit"):
        assert outcome[kind]["trials"] == 1
        assert outcome[kind]["passed"] == 1, outcome[kind]["failures"]
