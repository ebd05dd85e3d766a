"""Shared fixtures: an isolated run store, and a tiny synthetic dataset so trainer tests need no download; and the
``data`` marker: a test that reads the downloaded MNIST or Fashion-MNIST is skipped, with the fix, where they are
absent (``@pytest.mark.data`` for MNIST; ``@pytest.mark.data("mnist", "fashion_mnist")`` names each one read)."""

from __future__ import annotations

import functools

import pytest
import torch

from kdlib import data, paths, runs


NAMES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}


@functools.cache
def _absent(name: str) -> bool:
    """Whether ``name``'s files are missing from the data folder (checked once a session: it hashes them)."""
    return data.absent(name) is not None


def pytest_runtest_setup(item):
    marker = item.get_closest_marker("data")
    if marker is None:
        return
    for name in marker.args or ("mnist",):
        if _absent(name):  # checked before the test's fixtures run (none of them moves KDLIB_DATA)
            pytest.skip(f"{NAMES.get(name, name)} not downloaded: run `make data`")


@pytest.fixture(autouse=True)
def isolated_store(tmp_path, monkeypatch):
    """Every test writes records and caches under its own tmp folder, never into the published results/."""
    monkeypatch.setenv("KDLIB_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("KDLIB_CACHE", str(tmp_path / "cache"))
    yield tmp_path
    paths.use_profile("cpu")  # a test that selected the smoke store leaves it behind
    runs.REBUILT.clear()  # and one that rebuilt a model, its note


def make_dataset(n_train: int = 240, n_test: int = 80, seed: int = 0) -> data.Dataset:
    """Three classes of 1x8x8 images that differ in which third of the image is bright: learnable in a few steps."""
    generator = torch.Generator().manual_seed(seed)

    def split(n):
        labels = torch.randint(0, 3, (n,), generator=generator)
        images = torch.randint(0, 60, (n, 1, 8, 8), generator=generator, dtype=torch.uint8)
        for k in range(3):
            images[labels == k, :, :, 3 * k: 3 * k + 2] += 180
        return images, labels

    (train_x, train_y), (test_x, test_y) = split(n_train), split(n_test)
    return data.Dataset("mnist", train_x, train_y, test_x, test_y, 3, (0.3,), (0.3,))


@pytest.fixture
def tiny(monkeypatch):
    """The synthetic dataset, also returned by kdlib.data.load so the run store trains on it."""
    dataset = make_dataset()
    monkeypatch.setattr(data, "load", lambda name, root=None: dataset)
    return dataset
