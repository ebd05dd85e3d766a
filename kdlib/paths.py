"""Where kdlib keeps data, run records and caches.

Each location can be moved with an environment variable, so tests and CI never touch the published records:
``KDLIB_DATA`` (datasets), ``KDLIB_RESULTS`` (run records, committed), ``KDLIB_CACHE`` (checkpoints and
teacher logits, never committed).
"""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The checkout that holds kdlib (an editable install); the current folder otherwise."""
    candidate = Path(__file__).resolve().parent.parent
    return candidate if (candidate / "pyproject.toml").exists() else Path.cwd()


def _from_env(variable: str, default: str) -> Path:
    value = os.environ.get(variable)
    return Path(value).expanduser().resolve() if value else project_root() / default


def data_dir() -> Path:
    return _from_env("KDLIB_DATA", "data")


def results_dir() -> Path:
    return _from_env("KDLIB_RESULTS", "results")


def cache_dir() -> Path:
    return _from_env("KDLIB_CACHE", ".kdlib_cache")
