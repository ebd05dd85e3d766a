"""Every chapter's knobs: typed, checked before any work with a message that names the parameter and what it takes,
applied to that chapter's budget only, and shown by the page (tests/test_book.py executes the pages)."""

from __future__ import annotations

import pytest

from kdlib import paths
from kdlib.book import configure_page
from kdlib.chapters import CHAPTERS, get_chapter, introduction, noisy_teachers
from kdlib.profiles import Profile, chapter_profile, profile_budget

# per chapter: a list knob, a scalar knob, a name knob and the allowed value it must refuse
_KINDS = {
    "introduction": ("temperatures", "image_student_epochs", "image_dataset", "cifar100"),
    "noisy_teachers": ("sigmas", "student_epochs", "datasets", ["mnist", "imagenet"]),
    "rocket_launching": ("seeds", "epochs", "dataset", "mnist"),
    "teacher_free": ("epsilons", "epochs", "dataset", "cifar10"),
    "self_distillation": ("seeds", "epochs", "dataset", "svhn"),
    "data_free": ("sweep_seeds", "iterations", "datasets", ["mnist", "cifar10"]),
    "synthesis": ("seeds", "student_epochs", "datasets", ["mnist", "svhn"]),
}
# a combination the chapter cannot run: a dataset whose files are not here (offline), or the chapter's own check
_COMBINATIONS = {
    "introduction": ({"image_dataset": "cifar10"}, "reads data that is not here; nothing was trained"),
    "noisy_teachers": ({"datasets": ["fashion_mnist", "mnist"]}, "the page takes MNIST first"),
    "rocket_launching": ({"dataset": "cifar10"}, "reads data that is not here; nothing was trained"),
    "teacher_free": ({"dataset": "cifar100"}, "reads data that is not here; nothing was trained"),
    "self_distillation": ({"dataset": "cifar100"}, "reads data that is not here; nothing was trained"),
    "data_free": ({"datasets": ["fashion_mnist"]}, "the page takes MNIST first"),
    "synthesis": ({"datasets": ["fashion_mnist", "mnist"]}, "the page takes MNIST first"),
}


def _page(chapter, **knobs):
    """The namespace a notebook has after its parameters cell (and papermill's injected one)."""
    before = {"configure_page", "chapter"}
    return {"configure_page": None, "chapter": None, "profile": "smoke", "train_missing": True, "device": None,
            **{name: None for name in chapter.KNOBS}, **knobs}, before


def test_every_chapter_declares_its_knobs():
    assert set(_KINDS) == set(CHAPTERS)
    for name in CHAPTERS:
        chapter = get_chapter(name)
        assert chapter.CHAPTER == name and "seeds" in chapter.KNOBS
        assert all(knob.doc and knob.allowed() for knob in chapter.KNOBS.values())


@pytest.mark.parametrize("name", CHAPTERS)
def test_each_kind_of_bad_value_is_refused_with_what_the_parameter_takes(name, isolated_store, monkeypatch):
    monkeypatch.setenv("KDLIB_DATA", str(isolated_store / "no-data"))  # CIFAR is absent here, whatever the machine
    chapter = get_chapter(name)
    grid, count, option, not_allowed = _KINDS[name]
    cases = [
        ({grid: "0.5"}, f"parameter {grid}='0.5' is not a list; {grid} takes a non-empty list"),  # type
        ({grid: []}, f"parameter {grid}=[] is empty"),
        ({grid: [2, 2]} if chapter.KNOBS[grid].kind == "ints" else {grid: [0.5, 0.5]}, "repeats a value"),
        ({count: 0}, f"parameter {count}=0 is out of range; {count} takes an integer in [1, "),  # range
        ({count: 2.5}, f"parameter {count}=2.5 is not an integer"),
        ({count: True}, f"parameter {count}=True is not an integer"),
        ({option: not_allowed}, f"parameter {option}={not_allowed!r}"),  # allowed values
        ({"sigma": [0.1]}, f"unknown parameter(s) sigma for chapter {name!r}; it takes: profile, train_missing, "
                           f"device, "),  # unknown names
        _COMBINATIONS[name],  # a combination that cannot run
    ]
    for knobs, message in cases:
        namespace, before = _page(chapter, **knobs)
        with pytest.raises(ValueError) as error:
            configure_page(namespace, before, chapter)
        assert message in str(error.value), (knobs, str(error.value))
    assert not (isolated_store / "results").exists() and not (isolated_store / "cache").exists()
    assert not (isolated_store / "no-data").exists()


def test_a_value_out_of_a_grid_range_names_the_range():
    with pytest.raises(ValueError, match=r"alphas=\[0.5, 1.5\] holds 1.5, out of range; alphas takes a non-empty "
                                         r"list of distinct numbers in \[0, 1\]"):
        chapter_profile(noisy_teachers, "smoke", {"alphas": [0.5, 1.5]})


def test_changes_apply_to_their_chapter_only_and_win_over_per_dataset_settings():
    profile = chapter_profile(noisy_teachers, "cpu", {"seeds": [0, 1], "sigmas": "[0.1, 0.3]", "alphas": None})
    assert profile == Profile("cpu", "noisy_teachers", (("seeds", (0, 1)), ("sigmas", (0.1, 0.3))))
    assert profile.describe() == "cpu with seeds=[0, 1], sigmas=[0.1, 0.3]"
    assert noisy_teachers.budget(profile, "mnist")["seeds"] == (0, 1)  # MNIST's own five seeds give way
    assert noisy_teachers.budget("cpu", "mnist")["seeds"] == (0, 1, 2, 3, 4)
    assert [spec.seed for spec in noisy_teachers.teachers(profile, "mnist")] == [0, 1]
    # the introduction's runs that this page's ledger also reads stay at the published profile
    assert introduction.image_runs(profile) == introduction.image_runs("cpu")
    recipe = chapter_profile(introduction, "cpu", {"recipe_seeds": [4], "seeds": [7]})
    assert introduction.recipe(recipe)["seeds"] == (4,) and introduction.budget(recipe)["seeds"] == (7,)
    with pytest.raises(ValueError, match="unknown profile .gpu.; choose one of: smoke, cpu$"):
        profile_budget({"smoke": {}, "cpu": {}}, "gpu")


def test_subset_all_means_every_training_image_and_none_the_profiles_value():
    from kdlib.chapters import rocket_launching
    from kdlib.pages import reproduce_command
    assert rocket_launching.budget(chapter_profile(rocket_launching, "cpu", {"subset": None}))["subset"] == 5_000
    every = chapter_profile(rocket_launching, "cpu", {"subset": "all"})
    assert rocket_launching.budget(every)["subset"] is None and every.describe() == "cpu with subset='all'"
    assert reproduce_command("rocket_launching", every) == "python -m kdlib page rocket_launching --profile cpu " \
                                                          "-p subset 'all'"
    with pytest.raises(ValueError, match="subset takes 'all' \\(every training image\\) or an integer in \\[100, "):
        chapter_profile(rocket_launching, "cpu", {"subset": "half"})


def test_a_noisy_teachers_dataset_needs_a_teacher_at_the_profile():
    with pytest.raises(ValueError, match="profile 'smoke' has no cifar10 teacher .the introduction's is on "
                                         "fashion_mnist.; choose fashion_mnist or svhn"):
        chapter_profile(noisy_teachers, "smoke", {"datasets": ["mnist", "cifar10"]}, train_missing=False)
    paper = chapter_profile(noisy_teachers, "paper", {"seeds": [0]}, train_missing=False)  # three datasets pass
    assert len(noisy_teachers.budget(paper)["datasets"]) == 3


def test_a_changed_grid_changes_the_runs_and_the_profile_alone_keeps_the_published_ones():
    base = {spec.id for stage in noisy_teachers.stages("smoke")[:1] for spec in stage()}
    same = chapter_profile(noisy_teachers, "smoke", {"sigmas": None})
    assert {spec.id for spec in noisy_teachers.stages(same)[0]()} == base
    changed = chapter_profile(noisy_teachers, "smoke", {"student_epochs": 2})
    assert not {spec.id for spec in noisy_teachers.stages(changed)[0]()} & {
        spec.id for spec in noisy_teachers.stages("smoke")[0]() if spec.model == noisy_teachers.STUDENT
        and spec.train_size is None}  # NT-1's students keep the epochs of the testbed its pilot chose


def test_a_page_sets_up_the_smoke_store(isolated_store, monkeypatch):
    monkeypatch.delenv("KDLIB_RESULTS")
    namespace, before = _page(noisy_teachers, sigmas=[0.2])
    profile = configure_page(namespace, before, noisy_teachers)
    assert profile.changes == (("sigmas", (0.2,)),)
    assert paths.results_dir() == isolated_store / "cache" / "smoke-results"


def test_the_executed_with_text_shows_a_readers_number_as_given():
    """A page's "executed with" box must name the value that ran: 0.1234567, not a rounded 0.123457."""
    from kdlib.chapters import rocket_launching

    profile = chapter_profile(rocket_launching, "cpu", {"lr": 0.1234567})
    assert profile.describe() == "cpu with lr=0.1234567"
    assert rocket_launching.budget(profile)["lr"] == 0.1234567
