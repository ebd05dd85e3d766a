"""The Rocket chapter's second testbed (R-1): its schedule, its MLP pair, its pilot's runs and gates fixed before their
records."""

from __future__ import annotations

import math

import pytest

from kdlib.optim import learning_rate
from kdlib.spec import RunSpec
from kdlib.train import train


# --- the schedule: Adam 1e-3, ×0.2 at 50 % and at 75 % of training -------------------------------------------------

def test_step5_50_75_multiplies_the_rate_by_0_2_at_half_and_three_quarters_of_the_steps():
    total = 60 * math.ceil(10_000 / 128)  # 60 epochs of 79 batches = 4,740 steps; the steps at 2,370 and 3,555
    by_hand = {0: 1e-3, 1000: 1e-3, 2369: 1e-3, 2370: 1e-3 * 0.2, 3000: 2e-4, 3554: 2e-4, 3555: 1e-3 * 0.2 * 0.2,
               4739: 4e-5}
    for step, rate in by_hand.items():
        assert learning_rate("step5_50_75", 1e-3, step / total) == pytest.approx(rate, rel=1e-12), step


def test_the_trainer_sets_each_epochs_rate_from_step5_50_75(tiny):
    """240 synthetic images less 40 for validation, batches of 50: 4 steps an epoch, 16 in all. The last step of
    epoch e is step 4e − 1, at 3/16, 7/16, 11/16 and 15/16 of training."""
    spec = RunSpec("mnist", "mlp_2x100", optimizer="adam", lr=1e-3, weight_decay=0.0, schedule="step5_50_75",
                   epochs=4, batch_size=50, val_size=40)
    history = train(spec, tiny, progress="off").history
    assert [row["step"] for row in history] == [4, 8, 12, 16]
    assert [row["lr"] for row in history] == pytest.approx([1e-3, 1e-3, 2e-4, 4e-5], rel=1e-12)
