"""Where log records go: docsight.log in the data dir (0600, rotated), and stderr with -v.

The file keeps docsight's own records from INFO and other libraries' from WARNING. At DEBUG
markdown_it logs every block rule of every parse and watchdog every inotify event; they
filled the 2 MB file in minutes and rotated the warnings that matter out of it. `-v` lets
everything into the file (and INFO onto stderr), `-vv` DEBUG onto stderr too.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path
from typing import Any

from engine import clean, secure_data_dir

OWN = ("docsight", "engine", "tui")  # docsight's loggers: engine.*, tui.*, docsight.*
# These log a line per request or lock at INFO and DEBUG: WARNING below -vv too.
CHATTY = ("httpx", "httpcore", "urllib3", "sentence_transformers", "filelock")
LOG_BYTES = 2_000_000
LOG_BACKUPS = 2


class PrivateLog(logging.handlers.RotatingFileHandler):
    """The log names files and quotes errors about them: 0600, rotated files too."""

    def _open(self) -> Any:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return open(fd, self.mode, encoding=self.encoding, errors=self.errors)


class VisibleFormatter(logging.Formatter):
    """Log lines on the terminal show control characters (from file names) as symbols."""

    def format(self, record: logging.LogRecord) -> str:
        return clean(super().format(record))


def setup_logging(data_dir: Path, verbosity: int) -> Path:
    """Route records to the data dir's log (and stderr with -v); returns the log's path."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "docsight", False)]:
        root.removeHandler(old)  # main() may run more than once in a process (tests)
        old.close()
    set_levels(verbosity)
    log_path = data_dir / "docsight.log"
    try:
        secure_data_dir(data_dir)
        handler = PrivateLog(
            log_path, maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
        )
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
        )
        _mark(handler)
    except OSError:
        pass  # a read-only data dir must not stop a search; the screen still gets errors
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(logging.DEBUG if verbosity > 1 else logging.INFO if verbosity else 100)
    stderr.setFormatter(VisibleFormatter("%(levelname)s %(name)s: %(message)s"))
    _mark(stderr)
    return log_path


def set_levels(verbosity: int) -> None:
    """Logger levels, not handler filters: a record below them is never even formatted
    (markdown_it's DEBUG arguments include the whole parser state)."""
    logging.getLogger().setLevel(logging.DEBUG if verbosity else logging.WARNING)
    for name in OWN:
        logging.getLogger(name).setLevel(logging.DEBUG if verbosity else logging.INFO)
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.NOTSET if verbosity > 1 else logging.WARNING)


def _mark(handler: logging.Handler) -> None:
    handler.docsight = True  # type: ignore[attr-defined]
    logging.getLogger().addHandler(handler)
