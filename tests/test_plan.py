"""The dry run of a page (``kdlib.plan``) and the knobs table (``kdlib.pages.knobs_table``), on hand-made records in
the test's own store: what is missing, in which order, and how long it would take."""

import pytest

from kdlib import pages, plan, runs
from kdlib.spec import RunSpec

TEACHER = RunSpec("mnist", "lenet5", epochs=10, lr=0.05)  # 55,000 training images after the validation split


def _store(spec: RunSpec, seconds: float, device: str = "cpu (x86_64)", **metrics) -> dict:
    """A record as the trainer writes it, with only what the plan reads."""
    record = {"id": spec.id, "spec": spec.to_dict(), "metrics": {"test_acc": 0.9, **metrics},
              "provenance": {"wall_time_s": seconds, "device": device, "threads": 1, "recipe_version": 1}}
    runs.write_json_atomic(runs.record_path(spec.id), record)
    return record


def test_images_seen_counts_epochs_subset_validation_early_stops_and_data_free_steps():
    assert plan.images_seen(TEACHER) == 10 * 55_000
    assert plan.images_seen(TEACHER.replace(subset=5_000)) == 10 * 5_000
    assert plan.images_seen(TEACHER.replace(stop_step=30)) == 30 * 128
    student = RunSpec("mnist", "lenet5_half", "kd_noise", (("iterations", 40.0),), teacher=TEACHER, epochs=3,
                      val_size=0, optimizer="adam", lr=0.002, weight_decay=0.0, schedule="constant", batch_size=64)
    assert plan.images_seen(student) == 3 * 40 * 64


def test_an_estimate_scales_the_records_seconds_per_image_by_the_images_the_run_goes_through():
    records = [_store(TEACHER, 600.0), _store(TEACHER.replace(seed=1), 660.0)]
    wanted = TEACHER.replace(epochs=20, subset=5_000, seed=7)
    got = plan.estimate(wanted, records)
    median_rate = 630.0 / (10 * 55_000)  # seconds per image, the median of the two records
    assert got.minutes == pytest.approx(median_rate * 20 * 5_000 / 60)
    assert got.n == 2 and got.basis == "2 CPU records, same dataset, model and method"


def test_without_the_same_method_an_estimate_says_what_it_rests_on_or_that_nothing_does():
    records = [_store(TEACHER, 600.0)]
    student = RunSpec("mnist", "lenet5", "kd", (("alpha", 0.9), ("temperature", 4.0)), teacher=TEACHER, epochs=5,
                      lr=0.05)
    assert plan.estimate(student, records).basis == "1 CPU record, same dataset and model, other methods"
    assert plan.estimate(student, records).minutes == pytest.approx(300.0 / 60)
    other = RunSpec("mnist", "mlp_2x800", epochs=5)
    assert plan.estimate(other, records) == plan.Estimate(None, plan.NO_RECORD)
    diverged = [_store(other, 50.0, diverged=True)]
    assert plan.estimate(other, diverged).minutes is None  # a diverged run's time says nothing of a full run


def test_gpu_hours_come_from_gpu_records_only():
    cpu_only = [_store(TEACHER, 600.0)]
    assert plan.estimate(TEACHER.replace(seed=3), cpu_only, gpu=True) == plan.Estimate(None, plan.NO_GPU_RECORD)
    on_card = [*cpu_only, _store(TEACHER.replace(seed=1), 36.0, device="NVIDIA H100 80GB HBM3")]
    got = plan.estimate(TEACHER.replace(seed=3, epochs=100), on_card, gpu=True)
    assert got.minutes == pytest.approx(36.0 * 10 / 60) and got.basis.startswith("1 GPU record")


def test_a_plan_lists_missing_runs_in_waves_teachers_first_once_each_and_stops_at_an_undeterminable_stage():
    students = [RunSpec("mnist", "lenet5", "kd", (("alpha", 0.9),), teacher=TEACHER.replace(seed=s), epochs=5,
                        lr=0.05, seed=s) for s in (0, 1)]
    records = [_store(TEACHER, 600.0)]  # teacher 0 has a record (not in this test's cache), teacher 1 has none

    def third():
        raise FileNotFoundError("a choice read from a record that is not there yet")

    got = plan.plan_stages([lambda: students, lambda: [students[0], TEACHER], third, lambda: [TEACHER]],
                           records, page="test", profile="cpu")
    table = got.runs.set_index("id")
    # student 0 can start at once (its teacher has a record, re-trained first since this cache lacks its model);
    # student 1 waits one wave for its teacher
    assert list(got.runs["id"]) == [TEACHER.id, students[0].id, TEACHER.replace(seed=1).id, students[1].id]
    assert table.loc[TEACHER.id, ["stage", "wave", "role"]].tolist() == [1, 1, "rebuild"]
    assert table.loc[students[0].id, ["stage", "wave", "role"]].tolist() == [1, 1, "missing"]
    assert table.loc[TEACHER.replace(seed=1).id, ["stage", "wave", "role"]].tolist() == [1, 1, "missing"]
    assert table.loc[students[1].id, ["stage", "wave", "role"]].tolist() == [1, 2, "missing"]
    assert got.undetermined == [3, 4]
    assert got.total_minutes == pytest.approx(10.0 + 10.0 + 2 * 5.0)  # the students: same model, other method
    text = got.describe()
    assert "4 run(s) to train" in text and "stage(s) 3, 4 not listed yet" in text and "GPU" not in text


def test_a_paper_plan_says_when_no_gpu_record_exists():
    got = plan.plan_stages([lambda: [TEACHER]], [_store(TEACHER.replace(seed=1), 600.0)], gpu=True)
    assert got.total_gpu_hours is None and got.runs.loc[0, "gpu_hours"] is None
    assert f"GPU: {plan.NO_GPU_RECORD}" in got.describe()
    gpu = plan.plan_stages([lambda: [TEACHER]], [_store(TEACHER.replace(seed=1), 360.0, device="NVIDIA H100")],
                           gpu=True)
    assert gpu.total_gpu_hours == pytest.approx(0.1) and "about 0.1 GPU-hours" in gpu.describe()


def test_missing_runs_checks_the_pages_parameters_and_trains_nothing():
    with pytest.raises(ValueError, match="unknown parameter"):
        plan.missing_runs("rocket_launching", "smoke", {"no_such_knob": 1})
    with pytest.raises(ValueError, match="trains no chapter runs"):
        plan.missing_runs("results")
    got = plan.missing_runs("rocket_launching", "smoke", {"seeds": [0, 1]}, records=[])
    assert len(got.runs) and set(got.runs["role"]) == {"missing"} and got.runs["minutes"].isna().all()
    assert got.undetermined  # the table reads the λ grid's choice, which no record has made yet
    assert "seeds=[0, 1]" in got.profile
    assert not list(runs.results_dir().glob("*.json"))  # nothing was trained or written


def test_knobs_table_shows_the_value_used_beside_the_published_and_paper_values():
    table = pages.knobs_table("noisy_teachers", {"seeds": [0, 1], "sigmas": [0.05]}, profile="cpu")
    assert list(table.columns) == ["value used", "published (cpu)", "paper profile", "takes", "meaning"]
    assert list(table.index) == list(__import__("kdlib.chapters.noisy_teachers", fromlist=["KNOBS"]).KNOBS)
    assert table.loc["seeds", "value used"] == "0, 1"  # a reader's change applies to every dataset
    assert table.loc["seeds", "published (cpu)"] == "0, 1, 2 (mnist: 0, 1, 2, 3, 4)"
    assert table.loc["sigmas", "value used"] == "0.05"
    assert table.loc["datasets", "paper profile"] == "mnist, svhn, cifar10"
    assert table.loc["subset", "value used"] == "all"
    assert table.loc["teacher_epochs", "takes"] == "an integer in [1, 3,000]"
    intro = pages.knobs_table("introduction", profile="smoke")  # a prefixed knob reads the recipe's budget
    assert intro.loc["recipe_teacher_epochs", ["value used", "published (cpu)", "paper profile"]].tolist() == \
        ["2", "100", "3000"]
    with pytest.raises(ValueError, match="has no knobs"):
        pages.knobs_table("speed")


def test_knobs_table_takes_the_profile_a_page_made():
    from kdlib import profiles
    setting = profiles.Profile("cpu", "rocket_launching", (("epochs", 12),))
    table = pages.knobs_table("rocket_launching", setting)
    assert table.loc["epochs", ["value used", "published (cpu)", "paper profile"]].tolist() == ["12", "6", "200"]
