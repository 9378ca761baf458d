"""Which names docsight never indexes, and the kind of file a name says it is.

The scan (engine/scan.py) and the watcher (engine/watch.py) share these rules.
"""

from __future__ import annotations

import fnmatch
import os
import re

from engine.types import FileKind

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
