"""Data-free KD (DAFL, RDSKD): each generator loss term against numpy, RDSKD's exponential penalty and its "previous
value" rule, the generator's output, no real training image on the data-free path, refusals before training."""

import math

import numpy as np
import pytest
import torch

from kdlib import runs
from kdlib.data import normalise
from kdlib.methods import data_free as df
from kdlib.models import build_model
from kdlib.runs import RunSpec
from kdlib.train import train

RNG = np.random.default_rng(7)
LOGITS = RNG.normal(size=(6, 4)) * 2  # 6 generated images, 4 classes
IMAGES = RNG.normal(size=(6, 1, 4, 4))


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_one_hot_loss_is_cross_entropy_against_the_teachers_own_top_class():
    p = _softmax(LOGITS)
    expected = -np.mean(np.log(p[np.arange(6), LOGITS.argmax(1)]))
    assert df.one_hot_loss(torch.tensor(LOGITS)).item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("base", [math.e, 10.0])
def test_information_entropy_loss_is_the_negative_entropy_of_the_batch_mean(base):
    mean = _softmax(LOGITS).mean(axis=0)
    expected = np.sum(mean * np.log(mean)) / np.log(base)
    got = df.information_entropy_loss(torch.tensor(LOGITS), log_base=base).item()
    assert got == pytest.approx(expected, rel=1e-12)
    uniform = df.information_entropy_loss(torch.zeros(5, 4)).item()  # balanced classes: the minimum, −log K
    assert uniform == pytest.approx(-math.log(4)) and got > uniform


def test_activation_loss_is_minus_the_mean_absolute_feature():
    features = RNG.normal(size=(6, 9))
    assert df.activation_loss(torch.tensor(features)).item() == pytest.approx(-np.abs(features).mean(), rel=1e-12)


def test_pairwise_diversity_is_the_inverse_ratio_of_image_to_output_distance_between_the_two_halves():
    p = _softmax(LOGITS)
    image_distance = np.sqrt(np.sum((IMAGES[3:] - IMAGES[:3]) ** 2))
    output_distance = np.sqrt(np.sum((p[3:] - p[:3]) ** 2))
    expected = 1.0 / (image_distance / output_distance + 1e-20)
    got = df.pairwise_diversity_loss(torch.tensor(IMAGES), torch.tensor(LOGITS)).item()
    assert got == pytest.approx(expected, rel=1e-12)
    # more different images (same outputs) give a smaller loss
    spread = df.pairwise_diversity_loss(torch.tensor(IMAGES) * torch.tensor([1.0] * 3 + [3.0] * 3)[:, None, None, None],
                                        torch.tensor(LOGITS)).item()
    assert spread < got


def test_the_pairwise_term_refuses_batches_it_cannot_pair():
    for n in (1, 5):
        with pytest.raises(ValueError, match=f"needs an even batch of at least 2, got {n}"):
            df.pairwise_diversity_loss(torch.zeros(n, 1, 4, 4), torch.zeros(n, 4))


def test_dafl_loss_is_the_hand_weighted_sum_with_log10_entropy():
    features = torch.tensor(RNG.normal(size=(6, 9)))
    terms = df.dafl_generator_loss(torch.tensor(LOGITS), features, one_hot=1.0, entropy=5.0, activation=0.1)
    mean = _softmax(LOGITS).mean(axis=0)
    entropy = np.sum(mean * np.log10(mean))
    assert terms["entropy"].item() == pytest.approx(entropy, rel=1e-12)
    expected = terms["one_hot"].item() + 5.0 * entropy - 0.1 * np.abs(features.numpy()).mean()
    assert terms["loss"].item() == pytest.approx(expected, rel=1e-12)


def test_the_exponential_penalty_measures_increments_against_the_second_iteration_of_the_epoch():
    """Rule (the official code): previous values start at 0 and are replaced by the detached values of iteration
    i == 1 of each epoch, after its step. Unchanged terms then give exp(0) = 1 each."""
    penalty = df.ExponentialPenalty()
    images, logits = torch.tensor(IMAGES), torch.tensor(LOGITS, requires_grad=True)
    terms = df.rdskd_generator_loss(images, logits, penalty)
    oh, ie, ds = (terms[name].item() for name in ("one_hot", "entropy", "diversity"))
    assert terms["loss"].item() == pytest.approx(math.exp(oh) + math.exp(ie) + ds, rel=1e-12)  # previous = 0
    penalty.after_step(0, terms)  # the first iteration does not refresh
    assert penalty.previous == {"one_hot": 0.0, "entropy": 0.0}
    penalty.after_step(1, terms)
    again = df.rdskd_generator_loss(images, logits, penalty)
    assert again["loss"].item() == pytest.approx(2.0 + ds, rel=1e-12)  # exp(0) + exp(0) + L_ds
    assert not penalty.previous["one_hot"].requires_grad  # the previous value is a constant, not a path for gradient
    later = {**terms, "one_hot": terms["one_hot"] + 0.5}
    penalty.after_step(2, later)  # later iterations of the epoch leave it alone
    assert df.rdskd_generator_loss(images, logits, penalty)["loss"].item() == pytest.approx(2.0 + ds, rel=1e-12)
    assert penalty(later).item() == pytest.approx(math.exp(0.5) + 1.0 + ds, rel=1e-12)


def test_teacher_features_are_the_output_of_its_flatten_layer():
    torch.manual_seed(0)
    teacher = build_model("lenet5", (1, 28, 28), 10).eval()
    x = torch.randn(3, 1, 28, 28)
    logits, features = df.teacher_outputs(teacher, x)
    assert torch.equal(logits, teacher(x)) and torch.equal(features, teacher[:9](x)) and features.shape == (3, 120)
    with pytest.raises(ValueError, match="no nn.Flatten layer"):
        df.teacher_outputs(torch.nn.Linear(4, 2), torch.zeros(1, 4))


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_generated_images_have_the_shape_and_spread_of_normalised_images(shape):
    """``normalise`` maps a dataset's images to mean 0 and standard deviation 1 per channel (the dataset's own
    constants); the generator's last BatchNorm (no affine part) gives every channel of a batch the same."""
    torch.manual_seed(0)
    generator = df.Generator(shape, width=16).train()
    images = generator(torch.randn(64, df.LATENT_DIM))
    assert images.shape == (64, *shape)
    per_channel = images.transpose(0, 1).flatten(1)
    assert torch.allclose(per_channel.mean(1), torch.zeros(shape[0]), atol=1e-5)
    assert torch.allclose(per_channel.std(1, unbiased=False), torch.ones(shape[0]), atol=0.01)  # BN eps: just under 1
    real = torch.randint(0, 256, (500, *shape), dtype=torch.uint8)
    scaled = (real.float() / 255).transpose(0, 1).flatten(1)
    flat = normalise(real, tuple(scaled.mean(1).tolist()), tuple(scaled.std(1).tolist())).transpose(0, 1).flatten(1)
    assert torch.allclose(flat.mean(1), torch.zeros(shape[0]), atol=1e-4)
    assert torch.allclose(flat.std(1), torch.ones(shape[0]), atol=1e-3)
    with pytest.raises(ValueError, match="multiple of 4"):
        df.Generator((1, 30, 30))


def test_dafls_student_loss_never_reaches_the_generator():
    torch.manual_seed(0)
    teacher = build_model("small_cnn", (1, 8, 8), 3)
    params = {**df.DAFL_DEFAULTS, "generator_width": 16.0, "iterations": 2.0}
    source = df.JointGeneratorBatches(teacher, 8, 0, torch.device("cpu"), (1, 8, 8), params)
    before = [p.detach().clone() for p in source.generator.parameters()]
    images = source.next_batch()
    assert not images.requires_grad and images.shape == (8, 1, 8, 8)
    assert any(not torch.equal(a, b) for a, b in zip(before, source.generator.parameters())), "G was not updated"
    grads = [p.grad.clone() for p in source.generator.parameters()]
    student = build_model("small_cnn", (1, 8, 8), 3)
    df.dafl_student(student(images), None, teacher(images), 1.0, 2.0)["loss"].backward()
    assert all(torch.equal(g, p.grad) for g, p in zip(grads, source.generator.parameters()))
    assert all(p.grad is None for p in teacher.parameters()), "the teacher is fixed"
    assert set(source.epoch_summary()) == {"generator_one_hot", "generator_entropy", "generator_activation",
                                           "generator_loss"}


class _Poisoned:
    """Stands in for the training images: it has their shape, and any read of their content fails the test."""

    def __init__(self, shape):
        self.shape = shape

    def _read(self, *args, **kwargs):
        raise AssertionError("a real training image was read")

    __getitem__ = __len__ = __iter__ = __array__ = to = float = _read


def _specs():
    teacher = RunSpec("mnist", "small_cnn", epochs=2, lr=0.05, batch_size=32, val_size=40)
    common = dict(teacher=teacher, optimizer="adam", lr=2e-3, weight_decay=0.0, batch_size=16, schedule="constant",
                  val_size=0, epochs=2)
    generator = RunSpec("mnist", "dafl_generator_16", method="rdskd_generator", method_params={"iterations": 3},
                        **{**common, "lr": 1e-3})
    students = {
        "dafl": RunSpec("mnist", "mlp_2x100", method="dafl", method_params={"iterations": 3, "generator_width": 16},
                        **common),
        "rdskd": RunSpec("mnist", "mlp_2x100", method="rdskd", generator=generator, method_params={"iterations": 3},
                         **common),
        "kd_noise": RunSpec("mnist", "mlp_2x100", method="kd_noise", method_params={"iterations": 3}, **common)}
    return teacher, generator, students


def test_no_real_training_image_reaches_the_data_free_path(tiny):
    teacher, generator, students = _specs()
    runs.load_model(teacher)  # the teacher itself learns from real data, before the poisoning
    tiny.train_images = _Poisoned(tiny.train_images.shape)
    tiny.train_labels = _Poisoned(tiny.train_labels.shape)
    for name, spec in students.items():
        record = runs.get_or_train(spec, progress="off")
        assert len(record["history"]) == 2 and record["history"][-1]["step"] == 6, name
        assert 0.0 <= record["metrics"]["test_acc"] <= 1.0 and math.isnan(record["metrics"]["val_acc"])
        assert sum(record["metrics"]["generated_class_counts"]) == df.STATISTICS_SAMPLES
    assert "generator_loss" in runs.load_record(generator.id)["metrics"]
    assert runs.load_generator(students["dafl"])(torch.randn(2, df.LATENT_DIM)).shape == (2, 1, 8, 8)
    real = RunSpec("mnist", "mlp_2x100", method="kd", teacher=teacher, epochs=1, batch_size=32, val_size=40)
    with pytest.raises(AssertionError, match="a real training image was read"):
        runs.get_or_train(real, progress="off")  # the same store, the same dataset: a real-data run cannot train


def test_a_generator_run_trains_against_a_fixed_teacher_and_records_what_it_makes(tiny):
    teacher, generator, _ = _specs()
    teacher_model = runs.load_model(teacher)
    weights = {name: value.clone() for name, value in teacher_model.state_dict().items()}
    result = train(generator, tiny, teacher=teacher_model, progress="off")
    assert all(torch.equal(weights[name], value) for name, value in teacher_model.state_dict().items())
    assert [row["epoch"] for row in result.history] == [1, 2]
    assert {"train_one_hot", "train_entropy", "train_diversity", "train_loss"} <= set(result.history[0])
    assert 0 < result.metrics["generated_class_entropy"] <= math.log(3) + 1e-9
    again = train(generator, tiny, teacher=teacher_model, progress="off")
    assert again.metrics["generator_loss"] == result.metrics["generator_loss"]  # same seed, same generator


def test_a_resumed_dafl_run_ends_where_an_uninterrupted_one_does(tiny):
    """The generator trained alongside the student (its weights, its optimiser, its latent draws) is restored too."""
    teacher, _, students = _specs()
    teacher_model = runs.load_model(teacher)
    spec = students["dafl"]

    def source():
        return df.batch_source(spec, tiny, teacher_model, torch.device("cpu"))

    full = train(spec, tiny, teacher=teacher_model, progress="off", batches=source())
    saved = []

    def stop(state):
        saved.append(state)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(spec, tiny, teacher=teacher_model, progress="off", batches=source(), checkpoint=stop)
    resumed = train(spec, tiny, teacher=teacher_model, progress="off", batches=source(), resume=saved[0])
    def strip(rows):  # times differ; NaN (no validation split) never equals itself
        return [{k: None if v != v else v for k, v in row.items() if not k.endswith("time_s")} for row in rows]

    assert strip(resumed.history) == strip(full.history)
    assert all(torch.equal(a, b) for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values()))


@pytest.mark.parametrize("changes, message", [
    ({"method_params": {"one_hot": -1.0}}, r"one_hot \(a DAFL loss weight\) must be >= 0, got -1.0"),
    ({"method_params": {"entropy": -5.0}}, r"entropy \(a DAFL loss weight\) must be >= 0"),
    ({"method_params": {"generator_width": 24}}, r"generator_width must be one of \(16, 32, 64, 128, 256\)"),
    ({"method_params": {"lr_generator": 0.0}}, "lr_generator must be > 0"),
    ({"method_params": {"iterations": 0}}, "iterations .* must be a positive integer"),
    ({"val_size": 5000}, "data-free: it may not validate on training images; set val_size=0"),
])
def test_bad_dafl_settings_are_refused_before_training(changes, message):
    _, _, students = _specs()
    params = {**dict(students["dafl"].method_params), **changes.pop("method_params", {})}
    with pytest.raises(ValueError, match=message):
        students["dafl"].replace(method_params=params, **changes)


def test_bad_rdskd_specs_are_refused_before_training():
    teacher, generator, students = _specs()
    for batch in (1, 7):
        with pytest.raises(ValueError, match=f"batch_size must be even and at least 2, got {batch}"):
            generator.replace(batch_size=batch)
    with pytest.raises(ValueError, match="only 'rdskd' takes a generator, and it needs one"):
        students["rdskd"].replace(generator=None)
    with pytest.raises(ValueError, match="trained against this student's teacher"):
        students["rdskd"].replace(teacher=teacher.replace(seed=1))
    with pytest.raises(ValueError, match="'rdskd_generator' trains a dafl_generator_\\* model"):
        generator.replace(model="mlp_2x100")
    with pytest.raises(ValueError, match="is a generator; train it with method 'rdskd_generator'"):
        RunSpec("mnist", "dafl_generator_16")
    with pytest.raises(ValueError, match="pass batches= exactly when the method is data-free"):
        train(students["kd_noise"], None, progress="off")


def test_generator_specs_are_part_of_the_students_id_and_absent_otherwise():
    _, generator, students = _specs()
    assert students["rdskd"].id != students["rdskd"].replace(generator=generator.replace(lr=1e-2)).id
    assert "generator" not in students["dafl"].to_dict()
    again = RunSpec.from_dict(students["rdskd"].to_dict())
    assert again == students["rdskd"] and again.id == students["rdskd"].id


def test_the_cli_trains_a_generator_run_then_a_student_from_it(tiny, capsys):
    from kdlib.cli import main

    teacher, _, _ = _specs()
    runs.load_model(teacher)
    common = ["--dataset", "mnist", "--teacher", teacher.id, "--optimizer", "adam", "--weight-decay", "0",
              "--batch-size", "16", "--schedule", "constant", "--val-size", "0", "--epochs", "1",
              "--param", "iterations=2"]
    assert main(["run", *common, "--model", "dafl_generator_16", "--method", "rdskd_generator", "--lr", "0.001"]) == 0
    generator_id = next(r["id"] for r in runs.all_records() if r["spec"]["method"] == "rdskd_generator")
    assert main(["run", *common, "--model", "mlp_2x100", "--method", "rdskd", "--generator", generator_id]) == 0
    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    assert "generator loss" in listing and "rdskd " in listing
    assert main(["run", *common, "--model", "mlp_2x100", "--method", "rdskd"]) == 2  # no generator: refused
    assert "only 'rdskd' takes a generator, and it needs one" in capsys.readouterr().err
