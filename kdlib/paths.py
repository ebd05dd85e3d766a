"""Where kdlib keeps data, run records and caches.

Each location can be moved with an environment variable, so tests and CI never touch the published records:
``KDLIB_DATA`` (datasets), ``KDLIB_RESULTS`` (run records, committed), ``KDLIB_CACHE`` (checkpoints and
teacher logits, never committed). The ``smoke`` profile's records mean nothing, so a notebook or CLI run at that
profile keeps them in the cache (its entry point calls ``use_profile``) unless ``KDLIB_RESULTS`` names a store:
they never land beside the published ones. Code that calls the chapter functions directly picks its store itself.
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


_SMOKE = {"active": False}


def use_profile(profile: str) -> None:
    """Called by every entry point that takes a profile (a notebook's parameters, the CLI) before it reads or
    writes a record: the smoke profile gets its own store, ``<cache>/smoke-results``."""
    _SMOKE["active"] = profile == "smoke"


def results_dir() -> Path:
    if _SMOKE["active"] and not os.environ.get("KDLIB_RESULTS"):
        return cache_dir() / "smoke-results"
    return _from_env("KDLIB_RESULTS", "results")


def cache_dir() -> Path:
    return _from_env("KDLIB_CACHE", ".kdlib_cache")
