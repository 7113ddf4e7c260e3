"""A content-verified on-disk cache of converted weights.

An entry is a folder of files plus `manifest.json` (size and sha256 of each file), written last. An entry
whose manifest is missing, or whose files do not match it (truncated, corrupt), is rebuilt, never loaded.
Entries are built in a temporary sibling folder and renamed into place, so a crash leaves no half entry.
A lock file per entry lets one process build while others (parallel bench arms) wait and then load it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

from tunebench.core.io import atomic_write_json, read_json, sha256_file

MANIFEST = "manifest.json"


def cache_root() -> Path:
    """`TUNEBENCH_CACHE` if set, else `~/.cache/tunebench`."""
    return Path(os.environ.get("TUNEBENCH_CACHE") or Path.home() / ".cache" / "tunebench")


def _manifest_for(folder: Path) -> dict:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)
    return {
        "files": {
            str(p.relative_to(folder)): {"size": p.stat().st_size, "sha256": sha256_file(p)} for p in files
        }
    }


def is_valid_entry(folder: Path) -> bool:
    """True when the manifest exists and every file it lists has the recorded size and hash."""
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        return False
    try:
        manifest = read_json(manifest_path)
        for rel, info in manifest["files"].items():
            path = folder / rel
            if not path.is_file() or path.stat().st_size != info["size"]:
                return False
            if sha256_file(path) != info["sha256"]:
                return False
    except Exception:
        return False
    return True


def cached_entry(key: str, build: Callable[[Path], None]) -> tuple[Path, bool]:
    """Return (folder, hit). On a miss or a damaged entry, `build(tmp_folder)` writes the files anew."""
    folder = cache_root() / key
    if is_valid_entry(folder):
        return folder, True
    locks = folder.parent / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with FileLock(locks / f"{folder.name}.lock"):
        if is_valid_entry(folder):  # another process built it while this one waited
            return folder, True
        _build_entry(folder, build)
    return folder, False


def _build_entry(folder: Path, build: Callable[[Path], None]) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        build(tmp)
        atomic_write_json(tmp / MANIFEST, _manifest_for(tmp))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def entry_hash(folder: Path) -> str:
    """A short content hash of a cache entry, taken from its manifest (for provenance records)."""
    from tunebench.core.io import sha256_json

    return sha256_json(read_json(folder / MANIFEST))[:16]
