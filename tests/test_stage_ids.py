"""The spec ids every chapter's stages produce, at the smoke and cpu profiles, pinned in tests/fixtures/stage_ids.json
before the book layer is redesigned (issue 28): whatever replaces the hand-written ``stages()``, a single id that
changes, appears or disappears fails here, with the difference in the message.

The stages read earlier records to make their validation choices, so they read the committed store: a copy of
results/ (the published records are never opened for writing), checked unchanged after each test. No record is
trained (the stages ask with ``train_missing=False``). At the smoke profile no record is committed, so only the
stages before the first validation choice can be listed; the fixture pins those, and notes (``unlisted_stages``,
not compared: the redesign may cut stages differently) which stages were not.

`python tests/fixtures/regenerate.py stage-ids` rewrites the fixture (tests/fixtures/README.md); no test does."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kdlib import chapters, paths
from kdlib.runs import StaleRecordError

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "stage_ids.json"
PROFILES = ("smoke", "cpu")


def chapter_stages(name: str, profile: str) -> list:
    """The stages of chapter ``name`` (functions returning specs), as ``kdlib.executors.run_stages`` takes them.
    The one line to change when the stages move (issue 28: derived from a chapter's plan)."""
    return chapters.get_chapter(name).stages(profile, None)


def describe(spec) -> str:
    """Enough of a spec to recognise it in a difference (the id is the whole spec's hash)."""
    params = ",".join(f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"
                      for key, value in spec.method_params)
    teacher = f" teacher {spec.teacher.id}" if spec.teacher is not None else ""
    return (f"{spec.dataset} {spec.model} {spec.method}{f'({params})' if params else ''} {spec.epochs} epochs "
            f"lr {spec.lr:g} seed {spec.seed}{teacher}")


def stage_ids(name: str, profile: str) -> dict:
    """``{"ids": {id: description}, "unlisted_stages": [...]}``: every spec the chapter's stages produce, and the
    stages (numbered from 1) that cannot be listed because a record they choose from is not in the store."""
    ids, unlisted = {}, []
    for number, stage in enumerate(chapter_stages(name, profile), 1):
        try:
            specs = list(stage())
        except (FileNotFoundError, StaleRecordError):
            unlisted.append(number)
            continue
        ids.update({spec.id: describe(spec) for spec in specs})
    return {"ids": dict(sorted(ids.items())), "unlisted_stages": unlisted}


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {path.name: (path.stat().st_size, path.stat().st_mtime_ns) for path in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def committed_copy(tmp_path_factory) -> Path:
    """A copy of the committed records (results/), made once for the module."""
    copy = tmp_path_factory.mktemp("committed") / "results"
    shutil.copytree(paths.project_root() / "results", copy)
    return copy


@pytest.fixture
def committed_store(isolated_store, committed_copy, monkeypatch):
    """The committed records as the store (overriding conftest's empty one); fails a test that wrote to it."""
    monkeypatch.setenv("KDLIB_RESULTS", str(committed_copy))
    before = _snapshot(committed_copy)
    yield committed_copy
    assert _snapshot(committed_copy) == before, "listing the stages wrote to the store"


@pytest.fixture(scope="module")
def pinned() -> dict:
    return json.loads(FIXTURE.read_text())


def test_the_fixture_covers_every_chapter_at_both_profiles(pinned):
    assert set(pinned) == set(chapters.CHAPTERS)
    assert all(set(pinned[name]) == set(PROFILES) for name in pinned)


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("name", chapters.CHAPTERS)
def test_a_chapters_stages_produce_exactly_the_pinned_spec_ids(committed_store, pinned, name, profile):
    found, expected = stage_ids(name, profile), pinned[name][profile]
    gone = {key: value for key, value in expected["ids"].items() if key not in found["ids"]}
    new = {key: value for key, value in found["ids"].items() if key not in expected["ids"]}
    lines = [f"  - {key}  {value}" for key, value in gone.items()] + \
            [f"  + {key}  {value}" for key, value in new.items()]
    assert not lines, (f"{name} at {profile}: {len(gone)} pinned id(s) gone (-), {len(new)} new (+), of "
                       f"{len(expected['ids'])} pinned:\n" + "\n".join(lines))
    if profile == "cpu":  # the cpu profile's records are committed: every stage must be listed
        assert not found["unlisted_stages"], f"{name}: stages {found['unlisted_stages']} lack committed records"
