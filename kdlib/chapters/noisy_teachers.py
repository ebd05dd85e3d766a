"""Runs of the noisy-teachers chapter (Sau & Balasubramanian 2016): L2 logit regression with perturbed targets.

The paper states neither architectures nor a recipe (see the chapter's setup table). The book's reading: MNIST with
a LeNet-5 teacher (as KD_Lib reads the paper) and a shallow MLP student (784-100-100-10); Fashion-MNIST, the
stand-in for SVHN and CIFAR-10, with the introduction's ResNet-20 teacher and the same student.

Every choice is made on the validation split carved from the training set, in three stages per dataset:
1. teachers, and the student's learning rate for CE and for logit regression (seed 0);
2. at those rates, the α × σ sweep of the noisy teacher and of the noisy student; two dropout rates, each at every
   learning rate of the L2 grid (seed 0);
3. the best setting of each, and logit regression from several teachers, for every seed.
Stage 2 and 3 specs depend on stage 1 and 2 records, so the functions below read them (training them when missing
and ``train_missing`` is true).
"""

from __future__ import annotations

from typing import Iterator

from kdlib.chapters import best_on_validation, introduction, profile_budget
from kdlib.runs import RunSpec, get_or_train

PARAMETERS = {"profile": ("smoke", "cpu", "paper"), "train_missing": (True, False), "device": (None, "cpu", "cuda")}

# The L2 loss on logits has gradients about ‖z‖ times larger than CE's, so its rates are ten times smaller.
LEARNING_RATES = {"ce": (0.01, 0.03, 0.1), "l2": (0.001, 0.003, 0.01)}
_BUDGETS = {
    "smoke": dict(seeds=(0,), datasets=("mnist", "fashion_mnist"), teacher_epochs=1, student_epochs=1, subset=512,
                  alphas=(0.5, 1.0), sigmas=(0.1, 0.8), student_alphas=(1.0,),
                  learning_rates={"ce": (0.01, 0.1), "l2": (0.001, 0.01)}),
    "cpu": dict(seeds=(0, 1, 2), datasets=("mnist", "fashion_mnist"), teacher_epochs=20, student_epochs=20,
                subset=None, alphas=(0.2, 0.4, 0.6, 0.8, 1.0), sigmas=(0.1, 0.2, 0.4, 0.8, 1.6),
                student_alphas=(0.4, 1.0), learning_rates=LEARNING_RATES),
    "paper": dict(seeds=(0, 1, 2), datasets=("mnist", "svhn", "cifar10"), teacher_epochs=60, student_epochs=100,
                  subset=None, alphas=(0.2, 0.4, 0.6, 0.8, 1.0), sigmas=(0.1, 0.2, 0.4, 0.8, 1.6),
                  student_alphas=(0.4, 1.0), learning_rates=LEARNING_RATES),
}
STUDENT = "mlp_2x100"
DROPOUT_STUDENTS = ("mlp_2x100_drop20", "mlp_2x100_drop50")
SEVERAL_TEACHERS = "several teachers"  # the table row whose students learn from every seed's teacher


def budget(profile: str) -> dict:
    return profile_budget(_BUDGETS, profile)


def teachers(profile: str, dataset: str) -> list[RunSpec]:
    """One teacher per seed; seed 0 teaches every student, all of them teach the multiple-teacher students."""
    b = budget(profile)
    if dataset == "mnist":
        first = RunSpec("mnist", "lenet5", epochs=b["teacher_epochs"], lr=0.05, subset=b["subset"])
    elif dataset in ("fashion_mnist", "cifar10"):
        first = introduction.image_runs(profile)["teacher"]  # shared with the introduction
        if first.dataset != dataset:
            raise ValueError(f"profile {profile!r} has no {dataset} teacher in the introduction")
    elif dataset == "svhn":  # the introduction's paper recipe; no flips for digits
        first = introduction.image_runs(profile)["teacher"].replace(dataset="svhn", augment="shift2")
    else:
        raise ValueError(f"the noisy-teachers chapter has no teacher for {dataset!r}")
    return [first.replace(seed=seed) for seed in b["seeds"]]


def _student(profile: str, dataset: str, lr: float, **changes) -> RunSpec:
    b = budget(profile)
    return RunSpec(dataset, STUDENT, epochs=b["student_epochs"], lr=lr, schedule="warmup_cosine",
                   subset=b["subset"]).replace(**changes)


def lr_pilots(profile: str, dataset: str) -> dict[str, dict[float, RunSpec]]:
    """Seed-0 students at each learning rate, on labels (CE) and regressing the teacher's logits (L2)."""
    teacher = teachers(profile, dataset)[0]
    rates = budget(profile)["learning_rates"]
    return {"ce": {lr: _student(profile, dataset, lr) for lr in rates["ce"]},
            "l2": {lr: _student(profile, dataset, lr, method="logit_regression", teacher=teacher)
                   for lr in rates["l2"]}}


def record(spec: RunSpec, train_missing: bool = True, device=None) -> dict:
    """A run's record; a run that diverges is stored as such (a sweep result, not an error)."""
    return get_or_train(spec, train_missing, device, "line", keep_divergence=True)


def _best(specs: dict, train_missing: bool, device) -> tuple:
    """The key whose run has the highest final validation accuracy (diverged runs last; ties: the first key)."""
    return best_on_validation({key: record(spec, train_missing, device)["metrics"]["val_acc"]
                               for key, spec in specs.items()})


def learning_rates(profile: str, dataset: str, train_missing: bool = True, device=None) -> dict[str, float]:
    return {family: _best(specs, train_missing, device) for family, specs in lr_pilots(profile, dataset).items()}


def sweeps(profile: str, dataset: str, train_missing: bool = True, device=None) -> dict[str, dict]:
    """Stage 2 (seed 0): the noisy teacher on α × σ, the noisy student on its α values × σ, dropout rates ×
    learning rates."""
    b = budget(profile)
    lr = learning_rates(profile, dataset, train_missing, device)["l2"]
    teacher = teachers(profile, dataset)[0]
    regression = _student(profile, dataset, lr, method="logit_regression", teacher=teacher)

    def noisy(method, alpha, sigma):
        return regression.replace(method=method, method_params=(("alpha", alpha), ("sigma", sigma)))

    return {"noisy_teacher": {(a, s): noisy("noisy_teacher", a, s) for a in b["alphas"] for s in b["sigmas"]},
            "noisy_student": {(a, s): noisy("noisy_student", a, s) for a in b["student_alphas"] for s in b["sigmas"]},
            # dropout changes how large a step the student tolerates, so its rate is chosen with its learning rate
            "dropout": {(model, rate): regression.replace(model=model, lr=rate) for model in DROPOUT_STUDENTS
                        for rate in b["learning_rates"]["l2"]}}


def table_runs(profile: str, dataset: str, train_missing: bool = True, device=None) -> dict[str, list[RunSpec]]:
    """Stage 3: every row of the chapter's baseline table, one spec per seed, at the settings chosen on validation."""
    seeds = budget(profile)["seeds"]
    lr = learning_rates(profile, dataset, train_missing, device)
    sweep = sweeps(profile, dataset, train_missing, device)
    best = {name: sweep[name][_best(sweep[name], train_missing, device)] for name in sweep}
    all_teachers = teachers(profile, dataset)
    regression = _student(profile, dataset, lr["l2"], method="logit_regression", teacher=all_teachers[0])
    per_sample = best["noisy_teacher"].replace(
        method_params=(*best["noisy_teacher"].method_params, ("per_sample", 1.0)))
    rows = {"student on labels": _student(profile, dataset, lr["ce"]),
            "logit regression": regression,
            "noisy teacher": best["noisy_teacher"],
            "noisy teacher, one ξ per sample": per_sample,
            "noisy student": best["noisy_student"],
            "student dropout": best["dropout"],
            SEVERAL_TEACHERS: regression.replace(extra_teachers=tuple(all_teachers[1:]))}
    return {label: [spec.replace(seed=seed) for seed in seeds] for label, spec in rows.items()}


def _dataset_runs(profile: str, dataset: str, device=None) -> Iterator[RunSpec]:
    """Every run of one dataset in the order it can be trained; the CLI trains each as it is yielded."""
    first, *others = teachers(profile, dataset)
    yield first
    for specs in lr_pilots(profile, dataset).values():
        yield from specs.values()
    for specs in sweeps(profile, dataset, train_missing=False, device=device).values():
        yield from specs.values()
    table = table_runs(profile, dataset, train_missing=False, device=device)
    for label, specs in table.items():
        if label != SEVERAL_TEACHERS:
            yield from specs
    yield from others  # only the several-teachers row needs them: train it last
    yield from table[SEVERAL_TEACHERS]


def runs(profile: str, device=None) -> dict[str, Iterator[RunSpec]]:
    """One group per dataset (they can train in parallel); each yields its runs stage by stage."""
    return {dataset: _dataset_runs(profile, dataset, device) for dataset in budget(profile)["datasets"]}


def results(profile: str, dataset: str, train_missing: bool = True, device=None) -> dict:
    """Every record the chapter shows for one dataset, trained first where missing (and ``train_missing``)."""
    def load(specs):
        return {key: record(spec, train_missing, device) for key, spec in specs.items()}

    return {"teachers": [record(spec, train_missing, device) for spec in teachers(profile, dataset)],
            "pilots": {family: load(specs) for family, specs in lr_pilots(profile, dataset).items()},
            "learning_rates": learning_rates(profile, dataset, train_missing, device),
            "sweeps": {name: load(specs) for name, specs in sweeps(profile, dataset, train_missing, device).items()},
            "table": {label: [record(spec, train_missing, device) for spec in specs]
                      for label, specs in table_runs(profile, dataset, train_missing, device).items()}}
