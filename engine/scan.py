"""Scan: which files of a folder belong in the index, and why the others do not.

Only stat() per file: content checks (binary, encoding) happen when a file is loaded, so
a scan of an unchanged folder stays cheap. Ignore files use gitignore semantics through
`pathspec`; a deeper ignore file overrides a shallower one, and an ignored directory is
never entered.

A symlink is judged by what it resolves to as well as by its own name: `notes.md -> .env`
is a secret, and a link out of the folder is never followed. A symlinked directory is
never entered: its target is indexed where it lies, or not at all (`docs -> .git`). Paths come out
as the index stores them (engine/paths.py: names that are not UTF-8 get `\\xHH` escapes).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pathspec

from engine.config import IndexSettings
from engine.errors import os_reason
from engine.kinds import (
    EDITOR_NAMES,
    IGNORE_FILES,
    SECRET_NAMES,
    SKIPPED_DIRS,
    kind_of,
)
from engine.paths import is_escaped, on_disk, stored
from engine.types import ScannedFile, ScanResult, SkippedFile


@dataclass(frozen=True)
class IgnoreFile:
    """One ignore file: its spec and the lines it was built from (to name the rule)."""

    directory: str  # relative to root, "" for the root itself
    source: str  # e.g. "sub/.gitignore"
    spec: pathspec.GitIgnoreSpec
    rules: tuple[tuple[int, str], ...]  # (line number, text) of each pattern, in order


class Scanner:
    def __init__(
        self, root: Path, settings: IndexSettings, never_index: Sequence[Path] = ()
    ) -> None:
        self.root = Path(root).resolve()
        self.settings = settings
        self.max_bytes = int(settings.max_file_mb * 1024 * 1024)
        self._never = {p.resolve() for p in never_index}
        self._include = pathspec.GitIgnoreSpec.from_lines(settings.include)
        self._exclude = pathspec.GitIgnoreSpec.from_lines(settings.exclude)
        self._ignore_cache: dict[str, tuple[tuple[int, ...], list[IgnoreFile]]] = {}
        # During one scan each directory's ignore files are checked once, not once per file.
        self._chains: dict[str, list[IgnoreFile]] | None = None

    # whole folder -------------------------------------------------------------------------
    def scan(self) -> ScanResult:
        self._chains = {}
        try:
            return self._scan_all()
        finally:
            self._chains = None

    def _scan_all(self) -> ScanResult:
        result = ScanResult()
        seen_dirs: set[tuple[int, int]] = set()
        root_stat = self.root.stat()
        seen_dirs.add((root_stat.st_dev, root_stat.st_ino))
        stack = [""]
        while stack:
            self._scan_dir(stack.pop(), stack, seen_dirs, result)
        result.files.sort(key=lambda f: f.path)
        result.skipped.sort(key=lambda s: s.path)
        return result

    def _scan_dir(
        self, rel_dir: str, stack: list[str], seen: set[tuple[int, int]], result: ScanResult
    ) -> None:
        directory = self.root / rel_dir
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as error:
            result.skipped.append(_failed(rel_dir + "/", os_reason(error)))
            return
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            outcome = self._classify_path(rel, Path(entry.path))
            if isinstance(outcome, ScannedFile):
                result.files.append(outcome)
            elif isinstance(outcome, SkippedFile):
                result.skipped.append(outcome)
            elif outcome == "dir":
                key = self._dir_key(entry)
                if key is None or key in seen:
                    result.skipped.append(SkippedFile(stored(rel) + "/", "symlink loop"))
                else:
                    seen.add(key)
                    stack.append(rel)

    @staticmethod
    def _dir_key(entry: os.DirEntry[str]) -> tuple[int, int] | None:
        try:
            info = entry.stat(follow_symlinks=True)
        except OSError:
            return None
        return (info.st_dev, info.st_ino)

    # one path -----------------------------------------------------------------------------
    def check(self, rel_path: str) -> ScannedFile | SkippedFile | None:
        """What the scan would say of one file (its path as stored or as on disk); None
        if it is missing or a directory."""
        path = on_disk(self.root, rel_path.strip("/"))
        rel = os.path.relpath(path, self.root)
        for parent in _parents(rel.split("/")):
            verdict = self._directory_verdict(parent, self.root / parent)
            if verdict is None and (self.root / parent).is_symlink():
                linked = self._classify_path(parent, self.root / parent)
                verdict = getattr(linked, "reason", "inside a symlinked directory")
            if verdict is not None:
                return SkippedFile(stored(rel), verdict)
        if not os.path.lexists(path) or (path.is_dir() and not path.is_symlink()):
            return None
        outcome = self._classify_path(rel, path)
        return None if isinstance(outcome, str) else outcome

    # the decision -------------------------------------------------------------------------
    def _classify_path(self, rel: str, path: Path) -> ScannedFile | SkippedFile | str:
        """`rel` is the path as on disk; what comes out carries the path as stored."""
        name = stored(rel)
        try:
            is_link = path.is_symlink()
            info = path.stat()
        except FileNotFoundError:
            return SkippedFile(name, "broken symlink") if os.path.islink(path) else "gone"
        except OSError as error:
            if error.errno == errno.ELOOP:
                return SkippedFile(name, "symlink loop")
            return _failed(name, os_reason(error))
        verdict = self._name_verdict(rel) or (self._link_verdict(path, info) if is_link else None)
        if verdict:  # a link is left out as the link, a directory or not
            return SkippedFile(name, verdict)
        if stat.S_ISDIR(info.st_mode):
            verdict = self._directory_verdict(rel, path)
            return SkippedFile(name + "/", verdict) if verdict else "dir"
        verdict = self._file_verdict(rel, info)
        if verdict:
            return SkippedFile(name, verdict)
        kind = kind_of(rel)
        if kind is None:
            return SkippedFile(name, f"binary file type ({os.path.splitext(rel)[1].lower()})")
        return ScannedFile(name, info.st_size, info.st_mtime_ns, kind)

    def _name_verdict(self, rel: str) -> str | None:
        """A name not UTF-8 whose stored spelling is another file's name (engine/paths)."""
        if is_escaped(rel) and os.path.lexists(self.root / stored(rel)):
            return f"name is not UTF-8 and, written {stored(rel)}, is another file's name"
        return None

    def _link_verdict(self, path: Path, info: os.stat_result) -> str | None:
        """Judge a symlink by its target: the target's place, name and kind must all be
        ones the scan would index."""
        target = Path(os.path.realpath(path))
        try:
            target_rel = target.relative_to(self.root).as_posix()
        except ValueError:
            return "symlink to outside the folder"
        if target_rel == ".":
            return None  # the folder itself: the directory loop check says so
        verdict = next(
            filter(
                None,
                (
                    self._directory_verdict(p, self.root / p)
                    for p in _parents(target_rel.split("/"))
                ),
            ),
            None,
        )
        if verdict is None and stat.S_ISDIR(info.st_mode):
            verdict = self._directory_verdict(target_rel, target) or "indexed where it lies"
        elif verdict is None:
            verdict = self._file_verdict(target_rel, info)
            if verdict is None and kind_of(target_rel) is None:
                verdict = "binary file type"
        return f"symlink to {stored(target_rel)}: {verdict}" if verdict else None

    def _directory_verdict(self, rel: str, path: Path) -> str | None:
        name = rel.rsplit("/", 1)[-1]
        if name in SKIPPED_DIRS:
            return f"{name} directories are never indexed"
        if self._never and path.resolve() in self._never:
            return "docsight's own data or config directory"
        return self._ignored(rel + "/")

    def _file_verdict(self, rel: str, info: os.stat_result) -> str | None:
        name = rel.rsplit("/", 1)[-1]
        if not stat.S_ISREG(info.st_mode):
            return "not a regular file"
        if info.st_size == 0:
            return "empty file"
        if SECRET_NAMES.match(name):
            return "may hold secrets: never indexed"
        if EDITOR_NAMES.match(name):
            return "editor temp or backup file"
        if name in IGNORE_FILES:
            return "ignore file"
        if info.st_size > self.max_bytes:
            return f"larger than {self.settings.max_file_mb:g} MB (index.max_file_mb)"
        return self._ignored(rel)

    def _ignored(self, rel: str) -> str | None:
        """The rule that ignores `rel` (a trailing "/" marks a directory), or None."""
        verdict: str | None = None
        for ignore in self._ignore_chain(rel.rstrip("/")):
            local = rel[len(ignore.directory) + 1 :] if ignore.directory else rel
            result = ignore.spec.check_file(local)
            if result.include is not None and result.index is not None:
                number, text = ignore.rules[result.index]
                rule = f"{ignore.source}:{number} ({text})"
                verdict = f"ignored by {rule}" if result.include else None
        if verdict:
            return verdict
        if self._exclude.match_file(rel):
            return "excluded by index.exclude"
        if self.settings.include and not rel.endswith("/") and not self._include.match_file(rel):
            return "not matched by index.include"
        return None

    def _ignore_chain(self, rel: str) -> list[IgnoreFile]:
        """The ignore files that apply to `rel`, shallowest first (a loop, not recursion:
        folders can nest deeper than Python's recursion limit)."""
        directories = ["", *_parents(rel.split("/"))]
        chain: list[IgnoreFile] = []
        for directory in directories:
            cached = self._chains.get(directory) if self._chains is not None else None
            if cached is not None:
                chain = cached
                continue
            chain = chain + self._ignore_files(directory)
            if self._chains is not None:
                self._chains[directory] = chain
        return chain

    def _ignore_files(self, rel_dir: str) -> list[IgnoreFile]:
        directory = self.root / rel_dir
        stamps = tuple(_mtime(directory / name) for name in IGNORE_FILES)
        cached = self._ignore_cache.get(rel_dir)
        if cached is not None and cached[0] == stamps:
            return cached[1]
        found = [
            _read_ignore(directory / name, rel_dir)
            for name, stamp in zip(IGNORE_FILES, stamps, strict=True)
            if stamp >= 0
        ]
        loaded = [f for f in found if f is not None]
        self._ignore_cache[rel_dir] = (stamps, loaded)
        return loaded


def _parents(parts: list[str]) -> list[str]:
    """The directories above a path given as its parts: a/b/c -> [a, a/b]."""
    return ["/".join(parts[:depth]) for depth in range(1, len(parts))]


def _failed(path: str, reason: str) -> SkippedFile:
    """Left out because it cannot be read: `status` lists it as failed, not ignored."""
    return SkippedFile(path, reason, failed=True)


def _read_ignore(path: Path, rel_dir: str) -> IgnoreFile | None:
    try:
        lines = tuple(path.read_text(encoding="utf-8", errors="replace").splitlines())
    except OSError:
        return None
    source = f"{rel_dir}/{path.name}" if rel_dir else path.name
    rules = tuple(
        (number, line)
        for number, line in enumerate(lines, 1)
        if line.strip() and not line.startswith("#")
    )
    spec = pathspec.GitIgnoreSpec.from_lines([text for _, text in rules])
    return IgnoreFile(rel_dir, source, spec, rules)


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return -1
