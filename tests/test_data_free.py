"""Data-free KD (DAFL, RDSKD): each generator loss term against numpy, RDSKD's exponential penalty and its "previous
value" rule, the generator's output, no real training image on the data-free path, refusals before training."""

import math

import numpy as np
import pytest
import torch
from scipy import stats as scipy_stats

from kdlib import runs
from kdlib.data import normalise
from kdlib.methods import Context, parse_params
from kdlib.methods import data_free as df
from kdlib.models import build_model
from kdlib.spec import RunSpec
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


def test_dafls_student_loss_never_reaches_the_generator(tiny):
    """The generator phase updates G and hands the student the images G made before that update, detached."""
    _, _, students = _specs()
    spec, teacher = students["dafl"], build_model("small_cnn", (1, 8, 8), 3)
    ctx = Context(spec, parse_params("dafl", dict(spec.method_params)), tiny, torch.device("cpu"),
                  build_model(spec.model, (1, 8, 8), 3), teacher)
    stream = torch.get_rng_state()
    (phase,) = df.dafl_phases(ctx)
    assert torch.equal(torch.get_rng_state(), stream), "building G must not move the stream the student draws from"
    generator = ctx.extras["generator"]
    assert phase.module is generator and not phase.scheduled and phase.log == "generator"
    before = [p.detach().clone() for p in generator.parameters()]
    batch = {"latents": torch.randn(8, df.LATENT_DIM)}
    terms = phase.step(batch)
    phase.optimizer.zero_grad()
    terms["loss"].backward()
    phase.optimizer.step()
    images = batch["images"]
    assert not images.requires_grad and images.shape == (8, 1, 8, 8)
    assert any(not torch.equal(a, b) for a, b in zip(before, generator.parameters())), "G was not updated"
    grads = [p.grad.clone() for p in generator.parameters()]
    df.dafl_student(ctx.model(images), None, teacher(images), 1.0, 2)["loss"].backward()
    assert all(torch.equal(g, p.grad) for g, p in zip(grads, generator.parameters()))
    assert all(p.grad is None for p in teacher.parameters()), "the teacher is fixed"


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
        assert math.isnan(record["metrics"]["val_acc"]), name  # no validation split: it would be training images
        model = runs.load_model(spec)  # the recorded accuracy is the final model's on the test split
        with torch.no_grad():
            predicted = model(normalise(tiny.test_images, tiny.mean, tiny.std)).argmax(1)
        assert record["metrics"]["test_acc"] == pytest.approx((predicted == tiny.test_labels).float().mean().item())
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
    full = train(spec, tiny, teacher=teacher_model, progress="off")
    saved = []

    def stop(state):
        saved.append(state)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(spec, tiny, teacher=teacher_model, progress="off", checkpoint=stop)
    resumed = train(spec, tiny, teacher=teacher_model, progress="off", resume=saved[0])
    def strip(rows):  # times differ; NaN (no validation split) never equals itself
        return [{k: None if v != v else v for k, v in row.items() if not k.endswith("time_s")} for row in rows]

    assert strip(resumed.history) == strip(full.history)
    assert all(torch.equal(a, b) for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values()))
    full_g, resumed_g = full.extras["generator"].state_dict(), resumed.extras["generator"].state_dict()
    assert all(torch.equal(full_g[name], resumed_g[name]) for name in full_g)


@pytest.mark.parametrize("changes, message", [
    ({"method_params": {"one_hot": -1.0}}, r"one_hot \(w_oh, a DAFL loss weight.*\) must be >= 0, got -1.0"),
    ({"method_params": {"entropy": -5.0}}, r"entropy \(w_ie, a DAFL loss weight.*\) must be >= 0"),
    ({"method_params": {"generator_width": 24}}, r"generator_width \(.*\) must be one of 16, 32, 64, 128, 256, got 24"),
    ({"method_params": {"lr_generator": 0.0}}, r"lr_generator \(the generator's Adam learning rate\) must be > 0"),
    ({"method_params": {"iterations": 0}}, r"iterations \(steps per epoch\) must be >= 1, got 0"),
    ({"val_size": 5000}, "data-free: it may not validate on training images; set val_size=0"),
])
def test_bad_dafl_settings_are_refused_before_training(changes, message):
    _, _, students = _specs()
    params = {**dict(students["dafl"].method_params), **changes.pop("method_params", {})}
    with pytest.raises(ValueError, match=message):
        students["dafl"].replace(method_params=params, **changes)


def test_bad_rdskd_specs_are_refused_before_training(tiny):
    teacher, generator, students = _specs()
    for batch in (1, 7):
        with pytest.raises(ValueError, match=f"batch_size must be even and at least 2, got {batch}"):
            generator.replace(batch_size=batch)
    for changes in ({"optimizer": "sgd"}, {"schedule": "cosine"}):  # never silently replaced by Adam, constant
        with pytest.raises(ValueError, match="a generator run trains with Adam at a constant learning rate"):
            generator.replace(**changes)
    with pytest.raises(ValueError, match="method 'rdskd' needs a frozen generator, the spec of its generator run"):
        students["rdskd"].replace(generator=None)
    with pytest.raises(ValueError, match="trained against this student's teacher"):
        students["rdskd"].replace(teacher=teacher.replace(seed=1))
    with pytest.raises(ValueError, match=r"do not fit: the method trains a generator \(a dafl_generator_\* model\), and 'mlp_2x100' is a plain"):
        generator.replace(model="mlp_2x100")
    with pytest.raises(ValueError, match=r"method 'ce' and model 'dafl_generator_16' do not fit: .* is a generator"):
        RunSpec("mnist", "dafl_generator_16")
    with pytest.raises(ValueError, match="is data-free: its teacher labels generated images, so pass the teacher"):
        train(students["kd_noise"], tiny, teacher_logits=torch.zeros(240, 3), progress="off")


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
    assert "method 'rdskd' needs a frozen generator" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------------
# The chapter's plan: what it trains, with no validation choice

def test_the_plan_reads_no_record_and_lists_every_student_once_in_one_stage():
    """No choice on validation: a plan that read a record would fail here. It lists the students only (DF-1's main
    rows, the first edition's, the sweep whose defaults are the first edition's, KD without its warm-up); the
    teachers and RDSKD's generator runs are prerequisites the executor trains first."""
    from kdlib.chapters import Choose, data_free, specs_in

    def read(spec):
        raise AssertionError(f"the plan read the record of {spec.id}")

    planned = data_free.plan("cpu", Choose(read))
    listed = specs_in(planned)
    assert planned["sweep"]["DAFL"]["defaults"] == planned["first_edition"]["mnist"]["DAFL"]  # listed once
    # DF-1: 2 datasets × 5 rows × 10 seeds; the first edition adds seeds 1-2 of its 4 taught rows (its seed 0 and
    # its student on labels are DF-1's own runs); the sweep 5 DAFL and 3 RDSKD settings besides the defaults, 3
    # seeds each; KD without warm-up 3 seeds
    assert len(listed) == 2 * 5 * 10 + 2 * 4 * 2 + (5 + 3) * 3 + 3
    assert not {spec.model for spec in listed} & {"lenet5", "dafl_generator_16", "dafl_generator_32"}
    stages = data_free.stages("cpu")
    assert len(stages) == 1 and [spec.id for spec in stages[0]()] == [spec.id for spec in listed]


def test_the_results_add_the_teachers_and_generators_beside_the_plans_records(monkeypatch):
    from kdlib.chapters import data_free

    monkeypatch.setattr(data_free, "record", lambda spec, train_missing=True, device=None: {"id": spec.id})
    found = data_free.results("cpu", train_missing=False)
    assert list(found) == ["profile", "teachers", "seed_teachers", "main", "generators", "sweep", "without_warmup",
                           "first_edition"]
    main = data_free.main_runs("cpu", "fashion_mnist")
    assert found["teachers"]["fashion_mnist"]["id"] == data_free.teacher("cpu", "fashion_mnist").id
    assert [r["id"] for r in found["seed_teachers"]["fashion_mnist"]] == [s.teacher.id for s in main["DAFL"]]
    assert [r["id"] for r in found["generators"]["fashion_mnist"]] == [s.generator.id for s in main["RDSKD"]]
    assert [r["id"] for r in found["main"]["fashion_mnist"]["DAFL"]] == [s.id for s in main["DAFL"]]


# ---------------------------------------------------------------------------------------------------------------
# The chapter's claims (C17–C19) on synthetic records: every verdict they can reach and every precondition failure

DIVERSITY = {"generated_class_entropy": 2.29, "generated_pixel_diversity": 1.25, "generated_feature_diversity": 1.5}


def _df_records(accuracies, method, dataset="mnist", steps=960, train_acc=0.9, diverged=(), **metrics):
    out = []
    for seed, accuracy in enumerate(accuracies):
        values = {"test_acc": None if seed in diverged else accuracy / 100,
                  **({"diverged": True} if seed in diverged else {}),
                  **{key: value[seed] for key, value in metrics.items()}}
        out.append({"id": f"{dataset}-{method}-{seed}", "metrics": values,
                    "spec": {"seed": seed, "dataset": dataset, "model": "lenet5_half", "method": method,
                             "subset": None, "val_size": 0, "batch_size": 128},
                    "history": [{"epoch": 8, "step": steps, "train_acc": train_acc}]})
    return out


def _jitter(scale, *key):
    import zlib

    return scale * np.random.default_rng(zlib.crc32(repr(key).encode())).normal(size=3)


def _df_results(rdskd=90.0, dafl=85.0, teacher=99.0, labels=98.0, real_kd=98.5, noise=0.1, diversity_gain=0.3,
                dafl_spread=10.0, rdskd_spread=0.3, datasets=("mnist", "fashion_mnist")):
    """Records of both datasets' main rows and the MNIST sweep: each value is the given level plus a per-row
    jitter of ``noise`` (the data-free rows; 0.1 for the real-data controls); RDSKD's diversity measures are
    ``diversity_gain`` above DAFL's; in the sweep, DAFL's runs alternate ±``dafl_spread`` around its level over
    settings and seeds, RDSKD's jitter by ``rdskd_spread``."""
    from kdlib.chapters import data_free

    main, teachers, generators = {}, {}, {}
    for dataset in datasets:
        def row(level, method, **extra):  # the data-free rows get ``noise``, the real-data controls 0.1 points
            scale = noise if method in ("dafl", "rdskd", "kd_noise") else 0.1
            return _df_records(level + _jitter(scale, dataset, method), method, dataset, **extra)

        diversity = {name: {key: value + (diversity_gain if name == "RDSKD" else 0.0)
                            + _jitter(0.02, dataset, name, key) for key, value in DIVERSITY.items()}
                     for name in ("DAFL", "RDSKD")}
        main[dataset] = {"student on labels": row(labels, "ce"),
                         "KD, real data": row(real_kd, "kd", train_acc=0.98),
                         "KD, Gaussian noise": row(40.0, "kd_noise"), "DAFL": row(dafl, "dafl", **diversity["DAFL"]),
                         "RDSKD": row(rdskd, "rdskd", **diversity["RDSKD"])}
        teachers[dataset] = [{"id": f"{dataset}-teacher-{seed}", "metrics": {"test_acc": value / 100},
                              "spec": {"seed": seed, "dataset": dataset, "model": "lenet5"}, "history": []}
                             for seed, value in enumerate(teacher + _jitter(0.1, dataset, "teacher"))]
        generators[dataset] = _df_records([0.0] * 3, "rdskd_generator", dataset, steps=360)
    sweep = {"DAFL": {}, "RDSKD": {}}
    for i, setting in enumerate(("defaults", *data_free.budget("cpu")["sweep"])):
        sweep["DAFL"][setting] = _df_records(
            [dafl + dafl_spread * (-1) ** (i + seed) + _jitter(0.2, "sweep", setting)[seed] for seed in range(3)],
            "dafl")
        if "weights" not in setting:
            sweep["RDSKD"][setting] = _df_records(rdskd + _jitter(rdskd_spread, "sweep", "RDSKD", setting), "rdskd")
    return {"profile": "cpu", "teachers": {dataset: found[0] for dataset, found in teachers.items()},
            "seed_teachers": teachers, "main": main, "generators": generators, "sweep": sweep, "first_edition": main}


def _df_claims(results):
    from kdlib.chapters import data_free

    found = data_free.claims(results)
    assert all(claim.chapter == "data_free" for claim in found)
    return {(claim.id, claim.setting.dataset.split(" (")[0]): claim for claim in found}


def test_rdskd_ahead_on_every_count_is_supported_in_each_dataset():
    found = _df_claims(_df_results())
    assert set(found) == {("C17", "MNIST"), ("C18", "MNIST"), ("C19", "MNIST"), ("C17", "Fashion-MNIST"),
                          ("C19", "Fashion-MNIST")}  # one claim per dataset; the sweep runs on MNIST only
    assert all(claim.verdict == "supported" for claim in found.values()), {k: c.reason for k, c in found.items()}
    assert [c.label for c in found[("C18", "MNIST")].comparisons] == ["std across settings: RDSKD − DAFL",
                                                                      "std across seeds: RDSKD − DAFL"]
    assert found[("C18", "MNIST")].expect == "lower" and found[("C18", "MNIST")].comparisons[0].unit == "points of std"
    assert len(found[("C19", "Fashion-MNIST")].comparisons) == 3
    assert found[("C17", "MNIST")].comparisons[0].test == "paired"
    setting = found[("C17", "Fashion-MNIST")].setting
    assert setting.dataset == "Fashion-MNIST (stand-in for CIFAR-10)" and setting.budget_share == pytest.approx(0.008)


def test_rdskd_behind_is_contradicted():
    found = _df_claims(_df_results(rdskd=80.0, diversity_gain=-0.3, dafl_spread=0.3, rdskd_spread=0.05))
    assert found[("C17", "MNIST")].verdict == found[("C17", "Fashion-MNIST")].verdict == "contradicted"
    assert found[("C19", "MNIST")].verdict == "contradicted"


def test_a_more_spread_rdskd_contradicts_c18():
    """The primary comparison is the spread across settings: RDSKD's settings ±10 points apart contradict C18."""
    results = _df_results(dafl_spread=0.0)
    for i, records in enumerate(results["sweep"]["RDSKD"].values()):
        for record in records:
            record["metrics"]["test_acc"] += 0.1 * (-1) ** i  # ±10 points, alternating over settings
    claim = _df_claims(results)[("C18", "MNIST")]
    assert claim.verdict == "contradicted" and "opposite direction" in claim.reason


def test_noisy_seeds_leave_the_data_free_claims_inconclusive():
    found = _df_claims(_df_results(rdskd=86.0, dafl=85.0, noise=3.0, diversity_gain=0.01, dafl_spread=1.0,
                                   rdskd_spread=1.0))
    assert not any(claim.failed_preconditions for claim in found.values())
    assert found[("C17", "MNIST")].verdict == "inconclusive" and "MDE" in found[("C17", "MNIST")].reason
    assert found[("C18", "MNIST")].verdict == "inconclusive"
    assert found[("C19", "Fashion-MNIST")].verdict == "inconclusive"


def test_a_collapsed_real_data_seed_makes_every_data_free_claim_untestable():
    results = _df_results()
    results["main"]["mnist"]["KD, real data"][1]["history"][-1]["train_acc"] = 0.1  # ended at chance
    found = _df_claims(results)
    for claim_id in ("C17", "C18", "C19"):
        claim = found[(claim_id, "MNIST")]
        assert claim.verdict == "untestable here"
        assert "KD with real data trains in every seed (none diverged or ended at chance) (1 of 3 runs failed)" \
            in claim.reason
    assert found[("C17", "Fashion-MNIST")].verdict == "supported"  # the other dataset's testbed is sound


def test_real_data_kd_far_below_the_teacher_makes_the_claims_untestable():
    found = _df_claims(_df_results(real_kd=94.0, teacher=99.0, labels=93.0))
    claim = found[("C17", "Fashion-MNIST")]
    assert claim.verdict == "untestable here"
    assert "KD with real data comes within 3 points of the teacher" in claim.reason


def test_a_teacher_no_better_than_the_student_on_labels_makes_the_claims_untestable():
    found = _df_claims(_df_results(teacher=98.0, labels=98.5, real_kd=98.0))
    claim = found[("C19", "MNIST")]
    assert claim.verdict == "untestable here" and "the teacher beats the student on labels" in claim.reason
    assert "KD with real data" not in claim.reason


def test_a_diverged_sweep_run_counts_at_chance_in_the_spread():
    from kdlib.chapters import data_free

    records = _df_records([90.0, 91.0, 92.0], "dafl", diverged=(1,))
    assert list(data_free.sweep_values(records, 10)) == pytest.approx([90.0, 10.0, 92.0])
    results = _df_results(dafl_spread=0.0, rdskd_spread=0.5)
    results["sweep"]["DAFL"]["lr ×10"] = _df_records([85.0, 85.0, 85.0], "dafl", diverged=(0, 1, 2))
    spreads = data_free.spreads(results)
    assert all(value > 30 for value in spreads["DAFL"]["across settings"])  # the diverged setting widens it
    assert np.isfinite(spreads["DAFL"]["across seeds"]).all()


def test_the_data_free_claims_read_only_the_records():
    """The claims need no generator, model or retraining: records alone (here, plain dicts with no run store)."""
    results = _df_results()
    from kdlib.chapters import data_free
    from kdlib.paths import results_dir

    assert [(c.verdict, c.reason) for c in data_free.claims(results)] == [
        (c.verdict, c.reason) for c in data_free.claims(results)]
    assert not results_dir().exists()


def test_a_diverged_real_data_run_is_counted_once():
    results = _df_results()
    record = results["main"]["fashion_mnist"]["KD, real data"][2]
    record["metrics"].update(diverged=True, test_acc=None)
    record["history"] = []  # diverged before its first epoch ended
    claim = _df_claims(results)[("C17", "Fashion-MNIST")]
    assert claim.verdict == "untestable here" and "(1 of 3 runs failed)" in claim.reason


def _mnist_results(dafl=(93.0, 94.5, 94.0), steps=960):
    def records(values, method):
        return [{"id": f"{method}-{seed}", "spec": {"seed": seed, "method": method},
                 "metrics": {"test_acc": value / 100, "n_test": 10_000},
                 "history": [{"epoch": 8, "step": steps}]} for seed, value in enumerate(values)]
    main = {"student on labels": records((98.6, 98.7, 98.5), "ce"), "KD, real data": records((98.8, 98.9, 98.7), "kd"),
            "KD, Gaussian noise": records((40.0, 38.0, 39.0), "kd"), "DAFL": records(dafl, "dafl"),
            "RDSKD": records((87.0, 86.0, 88.0), "rdskd")}
    teachers = [{"id": f"t{seed}", "spec": {"seed": seed}, "metrics": {"test_acc": value / 100, "n_test": 10_000},
                 "history": [{"epoch": 20}]} for seed, value in enumerate((99.3, 99.2, 99.4))]
    return {"profile": "cpu", "main": {"mnist": main}, "teachers": {"mnist": teachers[0]},
            "seed_teachers": {"mnist": teachers}}


def test_the_mnist_rows_beside_dafls_table_one():
    from kdlib.chapters import data_free

    rows = data_free.paper_rows(_mnist_results())
    assert [rows[m]["paper"] for m in ("teacher", "DAFL", "KD, Gaussian noise")] == [98.91, 98.20, 88.01]
    assert rows["RDSKD"]["paper"] is None and "comparison" not in rows["RDSKD"]
    # the share of the codes' steps: DAFL's 200 × 120, RDSKD's 1000 × 120
    assert rows["DAFL"]["share"] == pytest.approx(960 / 24_000) and rows["RDSKD"]["share"] == pytest.approx(960 / 120_000)
    assert rows["student on labels"]["share"] is None and rows["teacher"]["share"] is None
    # ours − paper: one-sample t over seeds, its standard error holding the paper's binomial error too
    ours = np.array([93.0, 94.5, 94.0])
    paper_se = 100 * np.sqrt(0.982 * 0.018 / 10_000)
    se = np.sqrt(ours.var(ddof=1) / 3 + paper_se ** 2)
    df = se ** 4 / ((ours.var(ddof=1) / 3) ** 2 / 2)
    dafl = rows["DAFL"]["comparison"]
    assert dafl.effect == pytest.approx(ours.mean() - 98.20)
    assert dafl.ci[0] == pytest.approx(ours.mean() - 98.20 - scipy_stats.t.ppf(0.975, df) * se)
    assert dafl.margin is None and rows["DAFL"]["inside"] == "no"  # a difference, not a refuted claim
    teacher = rows["teacher"]["comparison"]  # one teacher per seed: an interval over the three
    assert teacher.n[0] == 3 and teacher.effect == pytest.approx(99.3 - 98.91)
    table = data_free.paper_table(_mnist_results())
    assert list(table["row"]) == ["teacher", *data_free.METHODS]  # a column, not an index: the page hides the index
    table = table.set_index("row")
    assert table.loc["DAFL", "this book, MNIST (mean ± std)"] == "93.83 ± 0.76"
    assert table.loc["teacher", "this book, MNIST (mean ± std)"] == "99.30 ± 0.10" and table.loc["teacher", "seeds"] == 3
    assert table.loc["DAFL", "paper's value in our 95 % CI"] == "no"
    assert table.loc["DAFL", "share of the code's steps"] == "4.0%"
    assert table.loc["RDSKD", "paper (DAFL Table 1)"] == "not found"


def test_a_row_whose_interval_holds_the_papers_value_says_so():
    from kdlib.chapters import data_free

    close = data_free.paper_rows(_mnist_results(dafl=(98.19, 98.20, 98.21, 98.20, 98.2)))
    assert close["DAFL"]["inside"] == "yes"


# ---------------------------------------------------------------------------------------------------------------
# The page's numbers, tables and figures (kdlib.chapters.data_free) on hand-made records

def _with_warmup_runs(results, collapsed=1):
    """``results`` plus MNIST's KD without the warm-up, ``collapsed`` of its three seeds ending at chance."""
    results["without_warmup"] = _df_records([98.0, 11.0, 12.0][:3], "kd")
    for record in results["without_warmup"][3 - collapsed:]:
        record["history"][-1]["train_acc"] = 0.1
    return results


def test_the_budget_numbers_are_the_profiles_and_the_codes():
    from kdlib.chapters import data_free

    numbers = data_free.budget_numbers("cpu")
    assert (numbers["seeds"], numbers["sweep_seeds"], numbers["n_teachers"]) == (10, 3, 20)  # DF-1: a teacher a seed
    assert numbers["width"] == 16 and numbers["batch"] == 128
    assert numbers["generator_steps"] == 360 and numbers["student_steps"] == 960
    assert numbers["dafl_steps_ratio"] == pytest.approx(200 * 120 / 960)  # DAFL's code: 200 epochs of 120 steps
    assert numbers["batch_ratio"] == pytest.approx(4.0)
    assert (numbers["code_width"], numbers["code_batch"], numbers["code_dafl_epochs"]) == (128, 512, 200)
    assert (numbers["code_generator_steps"], numbers["code_student_steps"], numbers["code_dafl_steps"]) == (
        "2,400", "120,000", "24,000")
    assert numbers["teacher_epochs_mnist"] == 20 and numbers["teacher_epochs_fashion_mnist"] == 8
    assert numbers["n_samples"] == "1,000" and numbers["profile"] == "cpu"
    assert int(numbers["student_params"].replace(",", "")) > 1000


def test_the_page_numbers_cover_every_glue_of_the_prose_and_read_the_ledgers_claims():
    import re
    from pathlib import Path

    from kdlib import report
    from kdlib.chapters import data_free

    results = _with_warmup_runs(_df_results())
    found = data_free.claims(results)
    numbers = data_free.page_numbers(results, found)
    prose = (Path(__file__).parents[1] / "notebooks" / "05_data_free.py").read_text()
    footer = {"n_runs", "total_minutes", "elapsed_minutes", "teacher_minutes", "cold_minutes"}  # compute spent
    assert set(re.findall(r"\{glue:text\}`(\w+)", prose)) - footer <= set(numbers)
    mnist = results["main"]["mnist"]
    assert numbers["rdskd_mnist"] == report.mean_std([r["metrics"]["test_acc"] for r in mnist["RDSKD"]])
    assert numbers["rdskd_mnist"].startswith("90.") and " ± " in numbers["rdskd_mnist"]
    c17 = next(c for c in found if c.id == "C17" and c.setting.dataset == "MNIST")
    assert numbers["rdskd_vs_dafl"] == c17.comparisons[0].text()  # the claim's own comparison, not a second one
    assert numbers["verdict_c17"] == "supported on MNIST; supported on Fashion-MNIST"
    assert numbers["verdict_c18"] == "supported on MNIST"
    assert numbers["robust_note"].startswith("std across settings: RDSKD − DAFL: ")
    assert numbers["robust_note"].endswith("points of std")
    assert numbers["warmup_collapsed"] == "1 of 3" and numbers["dafl_paper"] == 98.20
    assert numbers["real_kd_gap"] == "3"
    assert data_free.verdicts(found, "C99") == "not tested at this profile"


def test_the_fashion_mnist_table_lists_the_teacher_then_every_row_in_points():
    from kdlib.chapters import data_free

    results = _mnist_results()
    results["main"]["fashion_mnist"] = results["main"].pop("mnist")
    results["seed_teachers"]["fashion_mnist"] = results["seed_teachers"].pop("mnist")
    results["main"]["fashion_mnist"]["DAFL"][1]["metrics"].update(test_acc=None, diverged=True)
    table = data_free.accuracy_table(results, "fashion_mnist")
    column = "this book, Fashion-MNIST (stand-in for CIFAR-10)"
    assert list(table.columns) == ["method", column]
    assert list(table["method"]) == ["teacher", *data_free.METHODS]
    cells = dict(zip(table["method"], table[column]))
    assert cells["teacher"] == "99.30 ± 0.10"  # one teacher per seed
    assert cells["student on labels"] == "98.60 ± 0.10"
    assert cells["DAFL"] == "93.50 ± 0.71 (1 diverged)"  # 93.0 and 94.0 left; the diverged seed counted


def test_dafls_published_cifar10_rows_stand_for_fashion_mnist():
    from kdlib.chapters import data_free

    table = data_free.published_table("fashion_mnist")
    column = "DAFL Table 3, CIFAR-10 (ResNet-34 / ResNet-18)"
    cells = dict(zip(table["method"], table[column]))
    assert cells == {"teacher": "95.58", "student on labels": "93.92", "KD, real data": "94.34",
                     "KD, Gaussian noise": "14.89", "DAFL": "92.22", "RDSKD": "not found"}
    assert data_free.published_accuracy("mnist", "DAFL") == 98.20
    assert data_free.published_accuracy("mnist", "RDSKD") is None


def test_the_setup_table_says_no_real_image_reaches_the_data_free_runs():
    from kdlib.chapters import data_free

    def record(spec):
        return {"spec": spec.to_dict()}

    main = data_free.main_runs("cpu", "mnist")
    results = {"teachers": {"mnist": record(data_free.teacher("cpu", "mnist"))},
               "main": {"mnist": {label: [record(spec) for spec in specs] for label, specs in main.items()}},
               "generators": {"mnist": [record(spec.generator) for spec in main["RDSKD"]]}}
    table = data_free.setup_table(results).set_index("setting")
    assert "validation images" not in table.index
    assert list(table.columns) == ["teacher", "student on labels", "RDSKD generator", "RDSKD student",
                                   "DAFL student (+ generator)"]
    assert table.loc["training images", "RDSKD generator"] == "none (generated)"
    assert table.loc["training images", "DAFL student (+ generator)"] == "none (generated)"
    assert table.loc["lr", "RDSKD student"] == "0.002" and table.loc["lr", "RDSKD generator"] == "0.001"
    assert table.loc["weight decay", "RDSKD student"] == "0"  # plain text, not a float a styler prints as 0.000000


def _sweep_results():
    """A small MNIST sweep: RDSKD on two settings, DAFL on those and a loss-weight setting, one DAFL run diverged."""
    return {"sweep": {
        "DAFL": {"defaults": _df_records([80.0, 90.0, 85.0], "dafl"),
                 "lr ×10": _df_records([70.0, 60.0, 65.0], "dafl", diverged=(1,)),
                 "CIFAR-10 weights": _df_records([50.0, 55.0, 60.0], "dafl")},
        "RDSKD": {"defaults": _df_records([88.0, 89.0, 90.0], "rdskd"),
                  "lr ×10": _df_records([86.0, 87.0, 88.0], "rdskd")}}}


def test_the_sweep_rows_hold_points_and_nan_for_a_diverged_run():
    from kdlib.chapters import data_free

    sweep = data_free.sweep_accuracies(_sweep_results())
    assert len(sweep) == 15 and list(sweep.columns) == ["method", "setting", "seed", "test acc (%)"]
    row = sweep[(sweep["method"] == "DAFL") & (sweep["setting"] == "lr ×10")]
    assert list(row["seed"]) == [0, 1, 2]
    assert row["test acc (%)"].iloc[0] == pytest.approx(70.0) and np.isnan(row["test acc (%)"].iloc[1])


def test_the_sweep_summary_counts_a_diverged_run_and_has_no_worst_for_its_group():
    from kdlib.chapters import data_free

    table = data_free.sweep_summary_table(_sweep_results()).set_index("runs of")
    rdskd = table.loc["RDSKD, all settings"]
    assert (rdskd["runs"], rdskd["diverged"]) == (6, 0)
    assert rdskd["mean"] == "88.00" and rdskd["std"] == f"{np.std([88, 89, 90, 86, 87, 88], ddof=1):.2f}"
    assert (rdskd["worst"], rdskd["best"]) == ("86.00", "90.00")
    same = table.loc["DAFL, the same settings"]
    assert (same["runs"], same["diverged"], same["worst"]) == (6, 1, "diverged")  # no worst: a run diverged
    assert same["mean"] == f"{np.mean([80, 90, 85, 70, 65]):.2f}" and same["best"] == "90.00"
    assert table.loc["DAFL, all settings (with its other weights)", "runs"] == 9


def test_the_spreads_table_is_c18s_two_spreads_rdskd_beside_dafl():
    from kdlib.chapters import data_free

    table = data_free.spreads_table(_sweep_results())
    assert list(table.columns) == ["std", "of", "RDSKD", "DAFL"]
    assert list(table["of"]) == ["seed 0", "seed 1", "seed 2", "defaults", "lr ×10"]
    by = table.set_index(["std", "of"])
    # seed 1: DAFL's diverged run counts at chance (10 %) in C18's spread
    assert by.loc[("across settings", "seed 1"), "DAFL"] == f"{np.std([90.0, 10.0], ddof=1):.2f}"
    assert by.loc[("across settings", "seed 0"), "RDSKD"] == f"{np.std([88.0, 86.0], ddof=1):.2f}"
    assert by.loc[("across seeds", "defaults"), "RDSKD"] == "1.00"


def test_the_sweep_accuracy_table_marks_dafls_own_settings_in_rdskds_column():
    from kdlib.chapters import data_free

    table = data_free.sweep_accuracy_table(_sweep_results())
    assert list(table.columns) == ["setting", "DAFL", "RDSKD"]
    assert list(table["setting"]) == ["defaults", "lr ×10", "CIFAR-10 weights"]
    cells = table.set_index("setting")
    assert cells.loc["defaults", "DAFL"] == "85.00 ± 5.00" and cells.loc["defaults", "RDSKD"] == "89.00 ± 1.00"
    assert cells.loc["lr ×10", "DAFL"] == "67.50 ± 3.54 (1 diverged)"
    assert cells.loc["CIFAR-10 weights", "RDSKD"] == data_free.NO_LOSS_WEIGHTS


def _diversity_results():
    rows = {}
    for method, entropy in (("KD, Gaussian noise", 0.5), ("DAFL", 1.9), ("RDSKD", 2.2)):
        rows[method] = _df_records([50.0, 51.0], method, generated_class_entropy=[entropy - 0.1, entropy + 0.1],
                                   generated_pixel_diversity=[1.0, 1.2], generated_feature_diversity=[3.0, 3.0],
                                   generated_confidence=[0.9, 0.95],
                                   generated_class_counts=[[500, 500] + [0] * 8, [100] * 10])
    return {"main": {"mnist": rows}}


def test_the_diversity_table_uses_c19s_measures_and_real_images_for_scale():
    from kdlib.chapters import data_free

    real = {"mnist": {"generated_class_entropy": 2.3012, "generated_pixel_diversity": 1.4,
                      "generated_feature_diversity": 5.0, "generated_confidence": 0.991}}
    table = data_free.diversity_table(_diversity_results(), real)
    labels = [label for _, label, _ in data_free.DIVERSITY_METRICS]
    assert list(table.columns) == ["dataset", "images", *labels, "teacher's confidence"]
    assert list(table["images"]) == ["KD, Gaussian noise", "DAFL", "RDSKD", "real test images"]
    rdskd = table.set_index("images").loc["RDSKD"]
    assert rdskd["class balance (entropy, nats)"] == f"2.200 ± {np.std([2.1, 2.3], ddof=1):.3f}"
    assert rdskd["teacher's confidence"] == f"0.925 ± {np.std([0.9, 0.95], ddof=1):.3f}"
    real_row = table.set_index("images").loc["real test images"]
    assert real_row["class balance (entropy, nats)"] == "2.301" and real_row["dataset"] == "MNIST"
    assert len(data_free.diversity_table(_diversity_results())) == 3  # no real statistics: no scale row


def test_the_class_shares_are_seed_zeros_histogram_against_a_balanced_line():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kdlib.chapters import data_free

    results = _diversity_results()
    shares = data_free.class_shares(results)
    dafl = shares[shares["images"] == "DAFL"]
    assert list(dafl["share (%)"]) == [50.0, 50.0] + [0.0] * 8  # seed 0's run only
    figure = data_free.class_histograms(results)
    balanced = [line for line in figure.axes[0].lines if list(line.get_ydata()) == [10.0, 10.0]]
    assert len(balanced) == 1 and figure.axes[0].get_title() == "dataset = MNIST"
    plt.close(figure)


def test_the_curves_show_each_data_free_row_without_its_diverged_runs():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kdlib.chapters import data_free

    def records(method, finals, diverged=()):
        out = _df_records(finals, method, diverged=diverged)
        for record, final in zip(out, finals):
            record["history"] = [] if record["metrics"].get("diverged") else [
                {"epoch": 1, "test_acc": final / 200}, {"epoch": 2, "test_acc": final / 100}]
        return out

    results = {"main": {"mnist": {"KD, Gaussian noise": records("kd_noise", [40.0, 42.0]),
                                  "DAFL": records("dafl", [80.0, 90.0], diverged=(1,)),
                                  "RDSKD": records("rdskd", [88.0, 92.0])}}}
    figure = data_free.accuracy_curves(results)
    ax = figure.axes[0]
    assert ax.get_title() == "MNIST" and ax.get_ylabel() == "test acc (%)"
    assert [text.get_text() for text in ax.get_legend().get_texts()] == list(data_free.DATA_FREE_ROWS)
    finals = sorted(line.get_ydata()[-1] for line in ax.lines if len(line.get_ydata()) == 2)
    assert finals == pytest.approx([41.0, 80.0, 90.0])  # DAFL's diverged seed left out of its mean
    plt.close(figure)


def test_df1_is_sized_from_the_first_editions_spread_and_the_edition_table_reads_each_editions_precondition():
    from kdlib import claims
    from kdlib.chapters import data_free

    results = _df_results(dafl=60.0, noise=6.0)  # data-free rows jittered by 6 points: a wide spread
    first = results["first_edition"]["fashion_mnist"]
    differences = claims.points(first["DAFL"]) - claims.points(first["KD, Gaussian noise"])
    sd = differences.std(ddof=1)

    def power(n):  # the paired t test's power at the SESOI, two-sided 0.05, from the noncentral t
        critical = scipy_stats.t.ppf(0.975, n - 1)
        shift = data_free.PRECONDITION_SESOI / (sd / np.sqrt(n))
        return scipy_stats.nct.sf(critical, n - 1, shift) + scipy_stats.nct.cdf(-critical, n - 1, shift)
    expected = next(n for n in range(2, 21) if power(n) >= 0.8)
    assert data_free.planned_seeds(results).seeds == expected
    results["first_edition"] = {dataset: {method: records[:1] for method, records in rows.items()}
                                for dataset, rows in results["main"].items()}
    assert data_free.planned_seeds(results) is None  # one seed has no spread to plan from
    results = _df_results()
    results["first_edition"] = {d: {m: [{**r, "metrics": {**r["metrics"], "test_acc": 0.40 + 0.3 * r["spec"]["seed"]}}
                                        for r in records] if m == "DAFL" else records for m, records in rows.items()}
                                for d, rows in results["main"].items()}
    table = data_free.edition_table(results)
    assert list(table["dataset"]) == ["MNIST", "MNIST", "Fashion-MNIST", "Fashion-MNIST"]
    assert list(table["precondition"]) == ["fails", "holds", "fails", "holds"]  # 40, 70, 100 % against noise 40
    assert list(table["seeds"]) == [3, 3, 3, 3]
