"""Which var dir a command works in: the one a setting names, or the running stack's, from
any folder.

``INCIDENTS_VAR_DIR``, when set (environment, settings file, a test's overrides), always
wins. Left at its default, the relative ``var``, a command uses:

1. ``./var`` where it runs, if that folder is a stack's var dir (``incidents up`` marks
   each var dir it runs in with :data:`MARKER`);
2. else the var dir this checkout's last ``incidents up`` recorded in
   ``<INCIDENTS_CACHE_DIR>/stacks/`` (one file per checkout, so two checkouts each find
   their own stack), if that folder still exists;
3. else ``./var``, as before any stack ran.

Whichever it is, it becomes an absolute path once, at the entry point, and every process
``incidents up`` starts is handed that path.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from incidents_config.settings import PathsSettings

_MAX_RECORD_BYTES = 4096  # longest recorded path read (PATH_MAX on Linux)
# The file `incidents up` leaves in each var dir it runs a stack in.
MARKER = ".incidents-var-dir"

How = Literal["setting", "here", "recorded", "default"]

_HOW = {
    "setting": "from INCIDENTS_VAR_DIR",
    "here": "./var here",
    "recorded": "recorded by `incidents up`",
    "default": "./var here; no `incidents up` of this checkout recorded another",
}


@dataclass(frozen=True)
class VarDir:
    """An absolute var dir, and how it was chosen."""

    path: Path
    how: How
    stale: Path | None = None  # a recorded var dir that no longer exists

    def describe(self) -> str:
        """``/home/x/proj/var, recorded by `incidents up```: where, and why there."""
        if self.stale is not None:
            return f"{self.path}, ./var here; {self.stale}, recorded by `incidents up`, is gone"
        return f"{self.path}, {_HOW[self.how]}"


def checkout() -> Path:
    """The folder this code runs from (its checkout; site-packages for an installed copy)."""
    return Path(__file__).resolve().parent.parent


def pointer_file(cache_dir: Path, code: Path) -> Path:
    """Where `incidents up` of the code in folder `code` records its var dir."""
    digest = hashlib.sha256(str(code).encode()).hexdigest()[:12]
    return cache_dir / "stacks" / f"{code.name}-{digest}"


def locate(paths: PathsSettings, *, cwd: Path, code: Path) -> VarDir:
    """The var dir of a command run in folder `cwd` with the code in folder `code`."""
    given = (cwd / paths.var_dir).resolve()
    if "var_dir" in paths.model_fields_set:
        return VarDir(given, "setting")
    if (given / MARKER).is_file():
        return VarDir(given, "here")
    recorded = _recorded(pointer_file(paths.cache_dir, code))
    if recorded is not None and recorded.is_dir():
        return VarDir(recorded, "recorded")
    return VarDir(given, "default", stale=recorded)


def record(paths: PathsSettings, var_dir: VarDir, *, code: Path) -> None:
    """Mark `var_dir` as a stack's; unless a setting chose it, record it as the var dir
    this checkout's commands find from any folder."""
    var_dir.path.mkdir(parents=True, exist_ok=True)
    (var_dir.path / MARKER).write_text(f"incidents var dir of the code in {code}\n")
    if var_dir.how == "setting":
        return  # a test's or a second stack's folder: never the checkout's own
    pointer = pointer_file(paths.cache_dir, code)
    pointer.parent.mkdir(parents=True, exist_ok=True)
    partial = pointer.with_name(f"{pointer.name}.{os.getpid()}.tmp")
    partial.write_text(f"{var_dir.path}\n", encoding="utf-8")
    partial.replace(pointer)  # a command reading it sees the old path or the new one


def _recorded(pointer: Path) -> Path | None:
    try:
        with pointer.open("rb") as f:  # a path; a file grown larger is not one
            text = f.read(_MAX_RECORD_BYTES + 1).decode("utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if len(text) > _MAX_RECORD_BYTES:
        return None
    return Path(text) if text and Path(text).is_absolute() else None
