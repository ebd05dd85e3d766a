"""Shared fixtures: an isolated run store, and a tiny synthetic dataset so trainer tests need no download."""

from __future__ import annotations

import pytest
import torch

from kdlib import data, paths, runs


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
