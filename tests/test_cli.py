"""The CLI and the chapter parameter check: clear errors, non-zero exits, nothing written on bad input."""

import json
import os
import subprocess
import sys

import pytest

from kdlib import cli
from kdlib.book import configure
from kdlib.chapters import get_chapter, introduction
from kdlib.profiles import BASE_PARAMETERS
from kdlib.paths import results_dir
from kdlib.spec import RunSpec

ALLOWED = BASE_PARAMETERS


def _params(**values):
    before = {"configure", "chapter"}
    namespace = {"configure": None, "chapter": None, "_i1": "", **values}
    return namespace, before


def test_configure_accepts_the_declared_parameters():
    namespace, before = _params(profile="smoke", train_missing=False, device=None)
    assert configure(namespace, before, ALLOWED) == {"profile": "smoke", "train_missing": False, "device": None}


@pytest.mark.parametrize("values, message", [
    ({"profile": "smoke", "train_missing": True, "device": None, "epochs": 3},
     "unknown parameter(s) epochs; this page takes: profile, train_missing, device"),
    ({"profile": "laptop", "train_missing": True, "device": None},
     "parameter profile='laptop' is not allowed; choose one of: 'smoke', 'cpu', 'paper'"),
    ({"profile": "cpu", "train_missing": 1, "device": None}, "parameter train_missing=1 is not allowed"),
    ({"profile": "cpu", "device": None}, "parameter 'train_missing' is missing"),
])
def test_configure_rejects_bad_parameters(values, message):
    namespace, before = _params(**values)
    with pytest.raises(ValueError) as error:
        configure(namespace, before, ALLOWED)
    assert message in str(error.value)


def test_every_profile_declares_a_consistent_set_of_runs():
    for profile in ("smoke", "cpu", "paper"):
        first, second = introduction.stages(profile)
        specs = first()
        assert len({spec.id for spec in specs}) == len(specs)
        assert set(introduction.recipe_pilots(profile).values()) <= set(specs)
        with pytest.raises(FileNotFoundError):  # listing the second stage trains nothing: no pilot records here
            second()
    cpu = introduction.mnist_runs("cpu")
    assert [len(cpu[role]) for role in ("teacher", "student", "distilled")] == [3, 3, 3]
    image = introduction.image_runs("cpu")
    assert len(image["student"]) == 3 and sum(len(specs) for specs in image["distilled"].values()) == 6 * 3
    with pytest.raises(ValueError, match="unknown chapter 'outro'"):
        get_chapter("outro")


def test_cli_run_and_list(tiny, capsys):
    assert cli.main(["run", "--dataset", "mnist", "--model", "mlp_2x800", "--epochs", "1", "--batch-size", "32", "--val-size", "40",
                     "--lr", "0.05"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (results_dir() / f"{printed['id']}.json").exists()
    assert cli.main(["list"]) == 0
    assert printed["id"] in capsys.readouterr().out
    assert cli.main(["run", "--dataset", "mnist", "--model", "mlp_2x800", "--method", "kd", "--teacher",
                     printed["id"], "--param", "temperature=20", "--epochs", "1", "--batch-size", "32",
                     "--val-size", "40"]) == 0
    assert len(list(results_dir().glob("*.json"))) == 2


@pytest.mark.parametrize("argv, message", [
    (["run", "--dataset", "mnist", "--model", "vgg99"], "unknown model 'vgg99'; choose one of"),
    (["run", "--dataset", "mnist", "--model", "mlp_2x800", "--omit-class", "10"],
     "omit_classes must be distinct class indices in 0..9 of mnist"),
    (["run", "--dataset", "mnist", "--model", "mlp_2x800", "--method", "kd"], "needs a teacher spec"),
    (["run", "--dataset", "mnist", "--model", "mlp_2x800", "--method", "kd", "--teacher", "nope"],
     "no stored teacher record 'nope'"),
    (["reproduce", "abc"], "no run record"),
    (["chapter", "introduction", "--profile", "huge"], "unknown profile 'huge'"),
    (["chapter", "introduction", "--profile", "smoke", "-p", "seeds", "[0, 0]"],
     "parameter seeds=[0, 0] repeats a value; seeds takes a non-empty list of distinct integers"),
    (["page", "noisy_teachers", "--profile", "smoke", "-p", "sigma", "[0.1]"],
     "unknown parameter(s) sigma for chapter 'noisy_teachers'; it takes: profile, train_missing, device, datasets"),
    (["page", "noisy_teachers", "--profile", "smoke", "-p", "datasets", "['mnist', 'cifar10']"],
     "profile 'smoke' has no cifar10 teacher"),
    (["page", "noisy_teachers", "--profile", "smoke", "--published", "-p", "seeds", "[1]"],
     "--published executes a published profile into book/; it takes no --out and no -p"),
    (["page", "noisy_teachers", "--profile", "smoke", "-p", "device", "cuda"],
     "device is not a -p parameter here; use --profile, --device or --no-train"),
    (["chapter", "noisy_teachers", "--profile", "smoke", "-p", "train_missing", "0"],
     "train_missing is not a -p parameter here; use --profile or --device"),
    (["chapter", "outro"], "unknown chapter 'outro'"),
    (["chapter", "rocket_launching", "--profile", "smoke", "--gpus-per-run", "0.5"],
     "--gpus-per-run is for --executor ray or slurm"),
    (["chapter", "rocket_launching", "--profile", "smoke", "--address", "auto"],
     "--address names a Ray cluster; it needs --executor ray"),
    (["page", "results", "-p", "seeds", "[1]"], "page 'results' takes no parameters besides --profile"),
    (["page", "outro"], "unknown page 'outro'; pages: introduction"),
    (["chapter", "rocket_launching", "--profile", "smoke", "--workers", "0"], "workers must be a positive integer"),
    (["chapter", "rocket_launching", "--profile", "smoke", "--executor", "slurm"],
     "the slurm executor needs Slurm (no sbatch on PATH)"),
])
def test_cli_errors_exit_non_zero_and_write_nothing(tiny, capsys, argv, message):
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err
    assert not results_dir().exists() or not list(results_dir().glob("*.json"))


def test_cli_rejects_a_malformed_parameter(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "--dataset", "mnist", "--model", "lenet5", "--param", "temperature"])
    assert exit_info.value.code == 2
    assert "expected NAME=VALUE" in capsys.readouterr().err


def test_cli_takes_a_choice_by_name_and_refuses_an_unknown_one(capsys):
    common = ["run", "--dataset", "mnist", "--model", "rocket_lenet5half_lenet5_none", "--method", "rocket"]
    assert cli.main([*common, "--param", "hint=l1"]) == 2
    assert "hint (the hint loss: mimic ‖l − z‖², mse ‖p − q‖² or kd) must be one of mimic, mse, kd" in \
        capsys.readouterr().err
    assert not results_dir().exists() or not list(results_dir().glob("*.json"))
    by_name = RunSpec("mnist", "rocket_lenet5half_lenet5_none", "rocket", {"hint": "kd"})
    assert by_name.id == RunSpec("mnist", "rocket_lenet5half_lenet5_none", "rocket", {"hint": 2}).id
    assert dict(by_name.method_params) == {"hint": 2.0}  # a choice is stored as its index: ids never change


def test_bench_ratios_and_goals():
    from kdlib.benchmark import Measure

    faster = Measure("m", "kdlib", "loader", ">= 3x", kdlib_s=2.0, baseline_s=7.0)
    assert faster.ratio == pytest.approx(3.5) and faster.met
    overhead = Measure("m", "kdlib", "ready", "<= 1.10x", kdlib_s=1.2, baseline_s=1.0)
    assert overhead.ratio == pytest.approx(1.2) and not overhead.met


@pytest.mark.parametrize("argv, message", [
    (["bench", "--repeats", "0"], "--repeats must be >= 1"),
    (["bench", "--json", "/no/such/folder/bench.json"], "its folder does not exist"),
])
def test_bench_refuses_bad_arguments_before_measuring(capsys, argv, message):
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


def test_claims_refuses_a_bad_profile_and_a_missing_record_without_writing(tmp_path, capsys):
    assert cli.main(["claims", "--profile", "laptop"]) == 2
    assert "unknown profile 'laptop'; choose one of: smoke, cpu, paper" in capsys.readouterr().err
    target = tmp_path / "ledger.csv"
    assert cli.main(["claims", "--profile", "smoke", "--csv", str(target)]) == 2  # the test store is empty
    assert "no run record" in capsys.readouterr().err and not target.exists()
    assert cli.main(["claims", "--csv", str(tmp_path / "no" / "such" / "ledger.csv")]) == 2
    assert "its folder does not exist" in capsys.readouterr().err


@pytest.mark.process
def test_a_chapter_checks_every_dataset_before_the_first_run(tmp_path):
    """Offline, `chapter noisy_teachers --profile paper` must not train the MNIST teacher for an hour before it
    finds that SVHN and CIFAR-10 are missing: every missing dataset is named at once and nothing is trained."""
    from kdlib.chapters import noisy_teachers

    assert noisy_teachers.datasets("paper") == ("mnist", "svhn", "cifar10")
    assert introduction.datasets("paper") == ("mnist", "cifar10")
    env = {**os.environ, "KDLIB_DATA": str(tmp_path / "data"), "KDLIB_RESULTS": str(tmp_path / "results")}
    result = subprocess.run([sys.executable, "-m", "kdlib", "chapter", "rocket_launching", "--profile", "paper"],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert "chapter 'rocket_launching' at profile paper reads data that is not here; nothing was trained" in \
        result.stderr
    assert "cifar10: missing data_batch_1" in result.stderr
    assert not (tmp_path / "results").exists()


def test_every_chapter_names_its_datasets():
    from kdlib.chapters import CHAPTERS
    from kdlib.data import DATASETS

    for name in CHAPTERS:
        for profile in ("smoke", "cpu", "paper"):
            names = get_chapter(name).datasets(profile)
            assert names and set(names) <= set(DATASETS), (name, profile, names)


def test_a_dry_run_lists_the_runs_of_a_page_and_trains_nothing(capsys):
    from kdlib.paths import results_dir

    assert cli.main(["page", "rocket_launching", "--profile", "smoke", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("page rocket_launching at profile smoke: ") and "total about" in out
    assert not list(results_dir().glob("*.json"))  # nothing trained, nothing written
    assert cli.main(["page", "rocket_launching", "--dry-run", "--published"]) == 2
    assert "--dry-run trains and executes nothing" in capsys.readouterr().err
