"""Scan: which files of a folder belong in the index, and why the others do not.

Only stat() per file: content checks (binary, encoding) happen when a file is loaded, so
a scan of an unchanged folder stays cheap. Ignore files use gitignore semantics through
`pathspec`; a deeper ignore file overrides a shallower one, and an ignored directory is
never entered.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pathspec

from engine.config import IndexSettings
from engine.types import FileKind, ScannedFile, ScanResult, SkippedFile

IGNORE_FILES = (".gitignore", ".docsightignore")
SKIPPED_DIRS = {
    ".git", ".hg", ".svn", ".bzr", "__pycache__", ".venv", "venv", "node_modules",
    ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox", ".idea", ".ssh", ".gnupg",
}  # fmt: skip
# Files that hold secrets: never embedded, never sent to a model.
SECRET_PATTERNS = (
    ".env", ".env.*", "*.env", "*.pem", "*.key", "id_rsa*", "id_dsa*", "id_ecdsa*",
    "id_ed25519*", "*.p12", "*.pfx", "*.kdbx", "*.keystore", "*.jks", ".netrc", ".pgpass",
    ".git-credentials", "credentials", "credentials.json", ".npmrc", ".pypirc",
    "secrets.*", "*.gpg", "*.asc", ".htpasswd",
)  # fmt: skip
# Editors' temp, swap and backup files: a save in progress, never content.
EDITOR_PATTERNS = (
    "*.swp", "*.swo", "*.swx", "*.swn", "*~", ".#*", "#*#", "4913", "*.tmp", "*.kate-swp",
    "*.crswap", ".*.~*", "*.bak", ".DS_Store", "*.orig", "*.rej", ".~lock.*",
)  # fmt: skip
SECRET_NAMES = re.compile("|".join(fnmatch.translate(p) for p in SECRET_PATTERNS))
EDITOR_NAMES = re.compile("|".join(fnmatch.translate(p) for p in EDITOR_PATTERNS))
BINARY_EXTENSIONS = {
    ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".ico", ".webp", ".tif", ".tiff", ".psd", ".mp3",
    ".mp4", ".m4a", ".wav", ".flac", ".ogg", ".avi", ".mov", ".mkv", ".webm", ".zip", ".gz",
    ".tgz", ".bz2", ".xz", ".zst", ".7z", ".rar", ".tar", ".jar", ".war", ".whl", ".egg",
    ".exe", ".dll", ".so", ".dylib", ".o", ".a", ".lib", ".obj", ".pyc", ".pyo", ".class",
    ".bin", ".dat", ".db", ".sqlite", ".sqlite3", ".woff", ".woff2", ".ttf", ".otf", ".eot",
    ".iso", ".dmg", ".img", ".doc", ".docx", ".xls", ".xlsx", ".ppt", ".pptx", ".odt", ".ods",
    ".odp", ".gguf", ".safetensors", ".pt", ".pth", ".onnx", ".npy", ".npz", ".parquet",
}  # fmt: skip
KIND_BY_EXTENSION: dict[str, FileKind] = {
    ".md": "markdown", ".markdown": "markdown", ".mdx": "markdown", ".txt": "text",
    ".text": "text", ".rst": "rst", ".html": "html", ".htm": "html", ".xhtml": "html",
    ".pdf": "pdf",
}  # fmt: skip
CODE_EXTENSIONS = {
    ".py", ".pyi", ".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".go", ".rs", ".java", ".kt",
    ".kts", ".c", ".h", ".cc", ".cpp", ".hpp", ".cs", ".rb", ".php", ".sh", ".bash", ".zsh",
    ".fish", ".ps1", ".lua", ".sql", ".r", ".swift", ".scala", ".pl", ".hs", ".ex", ".exs",
    ".erl", ".clj", ".el", ".vim", ".toml", ".yaml", ".yml", ".json", ".jsonc", ".ini", ".cfg",
    ".conf", ".xml", ".css", ".scss", ".less", ".tex", ".org", ".adoc", ".csv", ".tsv",
    ".proto", ".graphql", ".tf", ".nix", ".dockerfile", ".mk", ".cmake", ".gradle",
}  # fmt: skip
CODE_NAMES = {"Makefile", "Dockerfile", "Justfile", "Rakefile", "Gemfile", "Procfile"}


def kind_of(rel_path: str) -> FileKind | None:
    """The kind of file by its name; None for a known binary type."""
    name = rel_path.rsplit("/", 1)[-1]
    extension = os.path.splitext(name)[1].lower()
    if extension in BINARY_EXTENSIONS:
        return None
    if extension in KIND_BY_EXTENSION:
        return KIND_BY_EXTENSION[extension]
    if extension in CODE_EXTENSIONS or name in CODE_NAMES:
        return "code"
    return "text"  # unknown text-looking files are read; the loader rejects binary content


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
            result.skipped.append(SkippedFile(rel_dir + "/", _os_reason(error)))
            return
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            outcome = self._classify(rel, entry)
            if isinstance(outcome, ScannedFile):
                result.files.append(outcome)
            elif isinstance(outcome, SkippedFile):
                result.skipped.append(outcome)
            elif outcome == "dir":
                key = self._dir_key(entry)
                if key is None or key in seen:
                    result.skipped.append(SkippedFile(rel + "/", "symlink loop"))
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
        """What the scan would say of one file; None if it is missing or a directory."""
        rel_path = rel_path.strip("/")
        parts = rel_path.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            verdict = self._directory_verdict(parent, self.root / parent)
            if verdict is not None:
                return SkippedFile(rel_path, verdict)
        path = self.root / rel_path
        if not os.path.lexists(path) or (path.is_dir() and not path.is_symlink()):
            return None
        outcome = self._classify_path(rel_path, path)
        return None if isinstance(outcome, str) else outcome

    def is_ignore_file(self, rel_path: str) -> bool:
        return rel_path.rsplit("/", 1)[-1] in IGNORE_FILES

    # the decision -------------------------------------------------------------------------
    def _classify(self, rel: str, entry: os.DirEntry[str]) -> ScannedFile | SkippedFile | str:
        return self._classify_path(rel, Path(entry.path))

    def _classify_path(self, rel: str, path: Path) -> ScannedFile | SkippedFile | str:
        try:
            is_link = path.is_symlink()
            info = path.stat()
        except FileNotFoundError:
            return SkippedFile(rel, "broken symlink") if os.path.islink(path) else "gone"
        except OSError as error:
            return SkippedFile(rel, _os_reason(error))
        if is_link and not self._inside_root(path):
            return SkippedFile(rel, "symlink to outside the folder")
        if stat.S_ISDIR(info.st_mode):
            verdict = self._directory_verdict(rel, path)
            return SkippedFile(rel + "/", verdict) if verdict else "dir"
        reason = self._file_verdict(rel, info)
        if reason:
            return SkippedFile(rel, reason)
        kind = kind_of(rel)
        if kind is None:
            return SkippedFile(rel, f"binary file type ({os.path.splitext(rel)[1].lower()})")
        return ScannedFile(rel, info.st_size, info.st_mtime_ns, kind)

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
        """The ignore files that apply to `rel`, shallowest first."""
        parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
        if self._chains is not None and parent in self._chains:
            return self._chains[parent]
        above = self._ignore_chain(parent) if parent else []
        chain = above + self._ignore_files(parent)
        if self._chains is not None:
            self._chains[parent] = chain
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

    def _inside_root(self, path: Path) -> bool:
        try:
            path.resolve().relative_to(self.root)
        except (ValueError, OSError):
            return False
        return True


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


def _os_reason(error: OSError) -> str:
    if isinstance(error, PermissionError):
        return "permission denied"
    return error.strerror or str(error)
