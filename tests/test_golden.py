"""Golden records: three tiny fixed-seed runs on the synthetic 1×8×8 data (conftest's ``tiny``), trained through the
run store, whose ids and metrics are pinned in tests/fixtures/golden/. "Same seed, same numbers twice"
(test_train.py) passes a change that moves every number deterministically; these do not.

The fixtures are never rewritten by a test: `python tests/fixtures/regenerate.py golden` rewrites them, after a
change that is meant to move the numbers (say which in the commit). See tests/fixtures/README.md."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from kdlib import runs
from kdlib.spec import RunSpec

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "golden"

# Tolerances: records are computed on one thread (below), so the same build gives the same bits; another CPU or
# BLAS may round differently. Losses and learning rates: relative 1e-4. Accuracies are counts over 40 validation
# and 80 test images, so they are compared exactly (a rounding difference would have to flip an argmax). Counts,
# epochs, steps and parameter numbers: exact.
LOSS_RELATIVE = 1e-4
ACCURACY_ABSOLUTE = 1e-6
TIMES = ("train_time_s", "epoch_time_s")

_BASE = RunSpec("mnist", "mlp_2x100", epochs=2, lr=0.003, batch_size=32, val_size=40)
GOLDEN: dict[str, RunSpec] = {
    "ce": _BASE,
    "kd": _BASE.replace(method="kd", teacher=_BASE.replace(lr=0.05), method_params={"temperature": 4.0, "alpha": 0.9}),
    "rocket": _BASE.replace(model="rocket_10_16_1_interval", method="rocket"),  # two heads, shared layers, a hint
}


def golden_values(name: str) -> dict:
    """Train golden run ``name`` through the store (its teacher first, for KD) on one thread and return what the
    fixture holds. The caller provides the store and the synthetic data (``tiny``)."""
    spec = GOLDEN[name]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        record = runs.get_or_train(spec, progress="off")
    finally:
        torch.set_num_threads(threads)
    return {"name": name, "id": spec.id, "spec": spec.to_dict(),
            "metrics": {key: value for key, value in record["metrics"].items() if key not in TIMES},
            "history": [{key: value for key, value in row.items() if key not in TIMES} for row in record["history"]]}


def differences(expected: dict, found: dict, where: str = "") -> list[str]:
    """Every value of ``found`` outside its tolerance from ``expected`` (keys: exactly the same), as lines."""
    lines = []
    if set(expected) != set(found):
        lines.append(f"{where}: keys differ: missing {sorted(set(expected) - set(found))}, "
                     f"new {sorted(set(found) - set(expected))}")
    for key in sorted(set(expected) & set(found)):
        want, got = expected[key], found[key]
        if isinstance(want, float) or isinstance(got, float):
            close = (want is not None and got is not None and
                     (math.isclose(got, want, rel_tol=0.0, abs_tol=ACCURACY_ABSOLUTE) if "acc" in key else
                      math.isclose(got, want, rel_tol=LOSS_RELATIVE, abs_tol=1e-9)))
        else:
            close = got == want
        if not close:
            lines.append(f"{where}{key}: pinned {want!r}, now {got!r}")
    return lines


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_a_golden_run_keeps_its_id(name):
    pinned = json.loads((FIXTURES / f"{name}.json").read_text())
    spec = GOLDEN[name]
    assert spec.to_dict() == pinned["spec"], f"{name}: the spec's fields changed (its id too)"
    assert spec.id == pinned["id"], f"{name}: id {spec.id}, pinned {pinned['id']} (the id's hashing changed)"


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_a_golden_run_retrains_to_its_pinned_metrics(tiny, name):
    pinned = json.loads((FIXTURES / f"{name}.json").read_text())
    found = golden_values(name)
    assert found["id"] == pinned["id"]
    lines = differences(pinned["metrics"], found["metrics"], "metrics.")
    assert len(found["history"]) == len(pinned["history"]), "a different number of epochs"
    for epoch, (want, got) in enumerate(zip(pinned["history"], found["history"]), 1):
        lines += differences(want, got, f"history[epoch {epoch}].")
    assert not lines, (f"golden run {name} ({pinned['id']}) moved; if that is intended, regenerate the fixtures "
                       f"(tests/fixtures/README.md):\n" + "\n".join(lines))


def test_the_comparison_sees_a_moved_loss_and_a_flipped_prediction():
    pinned = {"train_loss": 0.5, "test_acc": 0.55, "n_test": 80}
    assert not differences(pinned, {"train_loss": 0.5 * (1 + 5e-5), "test_acc": 0.55, "n_test": 80})
    assert differences(pinned, {"train_loss": 0.5 * (1 + 2e-4), "test_acc": 0.55, "n_test": 80})
    assert differences(pinned, {"train_loss": 0.5, "test_acc": 0.55 + 1 / 80, "n_test": 80})
    assert differences(pinned, {"train_loss": 0.5, "test_acc": 0.55, "n_test": 79})
    assert differences(pinned, {"train_loss": 0.5, "test_acc": 0.55})
