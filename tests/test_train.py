"""The trainer: it learns, it is deterministic, and it stops loudly on a diverging loss."""

import math

import pytest
import torch

from kdlib import methods
from kdlib.spec import RunSpec
from kdlib.optim import learning_rate
from kdlib.train import train

from conftest import make_dataset


def spec(**changes) -> RunSpec:
    base = RunSpec("mnist", "mlp_2x800", epochs=3, lr=0.05, batch_size=32, val_size=40)
    return base.replace(**changes)


def test_it_learns_the_synthetic_task():
    result = train(spec(), make_dataset(), progress="off")
    assert result.metrics["test_acc"] > 0.9
    assert [row["epoch"] for row in result.history] == [1, 2, 3]
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.metrics["n_params"] == 64 * 800 + 800 + 800 * 800 + 800 + 800 * 3 + 3


def test_same_seed_same_metrics_on_cpu():
    dataset = make_dataset()
    first = train(spec(augment="shift2"), dataset, progress="off")
    second = train(spec(augment="shift2"), dataset, progress="off")
    strip = lambda rows: [{k: v for k, v in row.items() if not k.endswith("time_s")} for row in rows]  # noqa: E731
    assert strip(first.history) == strip(second.history)
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values()):
        assert torch.equal(a, b)
    third = train(spec(augment="shift2", seed=1), dataset, progress="off")
    assert strip(third.history) != strip(first.history)


def test_distillation_from_cached_logits_and_from_the_teacher_model_agree():
    dataset = make_dataset()
    teacher = train(spec(), dataset, progress="off").model
    from kdlib.train import predict_logits
    logits = predict_logits(teacher, dataset.train_images, dataset, torch.device("cpu"))
    student = spec(method="kd", teacher=spec(), method_params={"temperature": 4, "alpha": 0.9})
    from_cache = train(student, dataset, teacher_logits=logits, progress="off")
    from_model = train(student, dataset, teacher=teacher, progress="off")
    assert from_cache.history[-1]["train_kd"] == pytest.approx(from_model.history[-1]["train_kd"], rel=1e-4)
    assert from_cache.metrics["test_acc"] > 0.9


def test_cached_logits_cannot_be_used_with_augmentation():
    dataset = make_dataset()
    student = spec(method="kd", teacher=spec(), augment="shift2")
    with pytest.raises(ValueError, match="cached teacher logits belong to un-augmented images"):
        train(student, dataset, teacher_logits=torch.zeros(len(dataset.train_images), 3), progress="off")


def test_a_non_finite_loss_stops_the_run(monkeypatch):
    def exploding(student_logits, labels, teacher_logits=None):
        ce = torch.nn.functional.cross_entropy(student_logits, labels)
        soft = student_logits.sum() * float("inf")
        return {"loss": ce + soft, "ce": ce, "soft": soft}

    monkeypatch.setitem(methods.METHODS, "ce", methods.Method("ce", methods.NoParams, "classifier", False, loss=exploding))
    message = r"loss became inf at epoch 1, step 0 \(learning rate 0.05; non-finite terms: soft=inf\)"
    with pytest.raises(FloatingPointError, match=message):
        train(spec(), make_dataset(), progress="off")


def test_line_progress_outside_a_terminal(capsys):
    train(spec(epochs=2), make_dataset(), progress="auto", label="demo")
    err = capsys.readouterr().err
    assert "[demo] epoch 1/2" in err and "[demo] epoch 2/2" in err


@pytest.mark.parametrize("schedule, progress, expected", [
    ("cosine", 0.0, 0.1), ("cosine", 0.5, 0.05), ("constant", 0.9, 0.1),
    ("step", 0.49, 0.1), ("step", 0.5, 0.01), ("step", 0.8, 0.001),
    ("warmup_cosine", 0.0, 0.0), ("warmup_cosine", 0.05, 0.05 * 0.5 * (1 + math.cos(math.pi * 0.05))),
    ("warmup_cosine", 0.5, 0.05)])
def test_learning_rate_schedules(schedule, progress, expected):
    """warmup_cosine: linear ramp over the first 10 % here, then the plain cosine."""
    assert learning_rate(schedule, 0.1, progress, warmup=0.1) == pytest.approx(expected, abs=1e-9)


def test_training_works_when_the_caller_has_switched_gradients_off(tiny):
    """A notebook may load a teacher inside torch.no_grad(); a cold cache then re-trains it there."""
    spec = RunSpec("mnist", "mlp_2x800", epochs=1, batch_size=32, val_size=40)
    with torch.no_grad():
        result = train(spec, tiny, progress="off")
    assert result.metrics["test_acc"] > 0.5


def test_an_omitted_class_never_reaches_the_training_feed_but_stays_in_validation_and_test():
    from kdlib.train import _TrainingSet

    dataset = make_dataset()
    omitted = spec(omit_classes=(1,))
    feed = _TrainingSet(omitted, dataset, torch.device("cpu"), torch.Generator().manual_seed(0))
    full = _TrainingSet(spec(), dataset, torch.device("cpu"), torch.Generator().manual_seed(0))
    assert (feed.labels != 1).all() and (full.labels == 1).any()
    kept = full.train_idx[dataset.train_labels[full.train_idx] != 1]
    assert torch.equal(feed.train_idx, kept)  # only the class is dropped, rows keep their original index
    assert torch.equal(feed.val_idx, full.val_idx) and (dataset.train_labels[feed.val_idx] == 1).any()
    result = train(omitted, dataset, progress="off")
    (sweep,) = result.metrics["bias_sweep"]
    assert sweep["class"] == 1 and sweep["n_test_class"] == int((dataset.test_labels == 1).sum())
    assert sweep["n_val_class"] == int((dataset.train_labels[feed.val_idx] == 1).sum())
    # never trained on class 1, the model does not predict it without a shift
    assert sweep["test_errors_on_class"][0] == sweep["n_test_class"]
    assert result.metrics["test_errors"] == sweep["test_errors"][0]


def test_bias_sweep_counts_errors_as_an_independent_computation_does():
    from kdlib.train import bias_sweep

    dataset = make_dataset(n_test=60)
    logits = torch.randn(60, 3, generator=torch.Generator().manual_seed(3)) * 2

    class Fixed(torch.nn.Module):  # returns the prepared logits for the rows it is given, in order
        def __init__(self):
            super().__init__()
            self.seen = 0

        def forward(self, batch):
            out = logits[self.seen:self.seen + len(batch)]
            self.seen += len(batch)
            return out

    shifts = (0.0, 0.5, 1.0, 3.5)
    sweep = bias_sweep({"test": (Fixed()(dataset.test_images), dataset.test_labels)}, target=2, shifts=shifts)
    z, y = logits.numpy(), dataset.test_labels.numpy()
    for k, shift in enumerate(shifts):
        raised = z.copy()
        raised[:, 2] += shift
        wrong = raised.argmax(1) != y
        assert sweep["test_errors"][k] == wrong.sum()
        assert sweep["test_errors_on_class"][k] == (wrong & (y == 2)).sum()
    assert sweep["test_errors_on_class"] == sorted(sweep["test_errors_on_class"], reverse=True)  # shifts help it


@pytest.mark.parametrize("omit, message", [((10,), "distinct class indices in 0..9"), ((3, 3), "distinct"),
                                           (tuple(range(10)), "at least one class"), ((True,), "class indices")])
def test_bad_omitted_classes_are_refused_with_the_fix(omit, message):
    with pytest.raises(ValueError, match=message):
        RunSpec("mnist", "mlp_2x800", omit_classes=omit)


def test_omitted_classes_are_part_of_the_id_only_when_set():
    base = RunSpec("mnist", "mlp_2x800")
    omitted = base.replace(omit_classes=(3,))
    assert "omit_classes" not in base.to_dict() and omitted.id != base.id
    assert RunSpec.from_dict(omitted.to_dict()) == omitted
