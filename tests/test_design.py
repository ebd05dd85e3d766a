"""kdlib's structure, checked from its source and its registries: no import circle, a trainer that names no paper,
every method taking a real training step, on the CPU and (when present) on CUDA. (Every registered model: in
test_models.py.)"""

import ast
import math
from pathlib import Path

import pytest
import torch

from kdlib import data
from kdlib.methods import METHODS, get_method
from kdlib.methods.noisy import perturb_logits
from kdlib.models import build_model, evaluation_heads
from kdlib.spec import RunSpec
from kdlib.train import train

PACKAGE = Path(__file__).resolve().parents[1] / "kdlib"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Every kdlib module → the kdlib modules it imports anywhere in its source (inside functions too)."""
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        targets = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                for alias in node.names:  # `from kdlib import data` imports the module kdlib.data
                    targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
        graph[name] = {target for target in targets if target in modules and target != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node, path):
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return path + [node, target]
            if target not in state and (cycle := visit(target, path + [node])):
                return cycle
        state[node] = 2
        return None
    for node in sorted(graph):
        if node not in state and (cycle := visit(node, [])):
            return cycle
    return None


def test_kdlib_has_no_import_circle():
    graph = import_graph()
    assert {"kdlib.train", "kdlib.methods"} <= graph["kdlib.runs"]  # the store sits above the trainer
    assert "kdlib.methods" in graph["kdlib.train"]  # the trainer reads methods through their registry
    assert "kdlib.methods.base" in graph["kdlib.methods.rocket"] and "kdlib.models" in graph["kdlib.methods.rocket"]
    assert find_cycle(graph) is None, " → ".join(find_cycle(graph))


def test_the_cycle_finder_sees_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_trainer_and_the_store_import_no_paper():
    graph = import_graph()
    papers = {name for name in graph if name.startswith("kdlib.methods.") and name != "kdlib.methods.base"}
    assert papers == {f"kdlib.methods.{paper}" for paper in
                      ("data_free", "hinton", "noisy", "rocket", "self_distillation", "teacher_free")}
    for module in ("kdlib.train", "kdlib.optim", "kdlib.spec", "kdlib.runs", "kdlib.models", "kdlib.losses"):
        assert not graph[module] & papers, f"{module} imports {graph[module] & papers}"


# --- every method takes one training step ---------------------------------------------------------------------

def _dataset(shape=(1, 28, 28), n_classes=10, n=24) -> data.Dataset:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 255, (2 * n, *shape), generator=generator, dtype=torch.uint8)
    labels = torch.randint(0, n_classes, (2 * n,), generator=generator)
    return data.Dataset("mnist", images[:n], labels[:n], images[n:], labels[n:], n_classes, (0.3,) * shape[0],
                        (0.3,) * shape[0])


TEACHER = RunSpec("mnist", "lenet5", epochs=1, val_size=8)
DATA_FREE = dict(optimizer="adam", lr=1e-3, weight_decay=0.0, schedule="constant", val_size=0, batch_size=8,
                 method_params={"iterations": 2})
GENERATOR = RunSpec("mnist", "dafl_generator_16", "rdskd_generator", teacher=TEACHER, epochs=1, **DATA_FREE)
MODEL_OF_KIND = {"classifier": "lenet5_half", "pair": "rocket_lenet5half_lenet5_none", "exits": "lenet5_half_sd_exits",
                 "generator": "dafl_generator_16"}


def _spec(method: str, model: str | None = None) -> RunSpec:
    declared = get_method(method)
    model = model or MODEL_OF_KIND[declared.model_kind]
    teacher = {"teacher": TEACHER} if declared.needs_teacher else {}
    if not declared.reads_training_images:
        params = {**DATA_FREE["method_params"], **({"generator_width": 16} if method == "dafl" else {})}
        extra = {"generator": GENERATOR} if declared.takes_generator else {}
        return RunSpec("mnist", model, method, epochs=1, **{**DATA_FREE, "method_params": params}, **teacher, **extra)
    return RunSpec("mnist", model, method, epochs=1, batch_size=8, val_size=8, stop_step=1, **teacher)


def _one_step(spec: RunSpec, device: str = "cpu"):
    """One training step of ``spec``; returns the result, the dataset and the names of the parameters (not buffers:
    BatchNorm statistics move on any training pass) that the step changed."""
    dataset = _dataset()
    declared = get_method(spec.method)
    teacher = build_model("lenet5", dataset.image_shape, 10) if declared.needs_teacher else None
    generator = build_model("dafl_generator_16", dataset.image_shape, 10) if declared.takes_generator else None
    torch.manual_seed(spec.seed)
    before = {name: value.detach().clone() for name, value in
              build_model(spec.model, dataset.image_shape, dataset.n_classes).named_parameters()}
    result = train(spec, dataset, teacher=teacher, generator=generator, device=torch.device(device), progress="off")
    changed = [name for name, value in result.model.named_parameters()
               if not torch.equal(value.detach().cpu(), before[name])]
    return result, dataset, changed


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_trains_one_step_on_a_tiny_batch(method):
    result, dataset, changed = _one_step(_spec(method))
    assert changed, f"{method} changed no parameter of its model"
    row = result.history[-1]
    assert math.isfinite(row["train_loss"]), f"{method}: train_loss {row['train_loss']}"
    if get_method(method).model_kind != "generator":
        # the accuracy reported is the returned model's on the 24 test images, recounted here
        model = result.model.eval()
        with torch.no_grad():
            logits = evaluation_heads(model, data.normalise(dataset.test_images, dataset.mean, dataset.std))[""]
        correct = int((logits.argmax(1) == dataset.test_labels).sum())
        assert result.metrics["n_test"] == 24
        assert result.metrics["test_acc"] == pytest.approx(correct / 24, abs=1e-6), \
            f"{method}: reported test_acc {result.metrics['test_acc']}, recounted {correct}/24"
    else:  # a generator has no head: what it makes is described instead
        assert sum(result.metrics["generated_class_counts"]) == 1000


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here; run it wherever a GPU is at hand")
@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_trains_one_step_on_cuda(method):
    result, _, changed = _one_step(_spec(method), device="cuda")
    assert changed, f"{method} changed no parameter of its model on CUDA"
    assert math.isfinite(result.history[-1]["train_loss"]), f"{method}: train_loss {result.history[-1]['train_loss']}"


def test_typed_parameters_read_names_numbers_and_flags_and_refuse_the_rest():
    from kdlib.methods import parse_params

    assert parse_params("rocket", {"hint": "kd", "grad_block": "off", "lam": "0.5"}).as_dict() == \
        {"lam": 0.5, "hint": "kd", "temperature": 4.0, "grad_block": False}
    assert parse_params("rocket", {"hint": 1.0, "grad_block": 1.0}).hint == "mse"  # what a spec stores
    for params, message in (({"hint": float("inf")}, "hint .* must be a finite number"),
                            ({"hint": 1.5}, "must be one of mimic, mse, kd"),
                            ({"lam": True}, r"lam \(λ, the weight of the hint loss\) is a number, got True"),
                            ({"lam": float("nan")}, "must be >= 0, got nan"),
                            ({"lam": "much"}, "is a number, got the string 'much'"),
                            ({"grad_block": "yes"}, "is a flag, got the string 'yes'")):
        with pytest.raises(ValueError, match=message):
            parse_params("rocket", params)
    with pytest.raises(ValueError, match=r"iterations \(steps per epoch\) must be a whole number, got 2.5"):
        parse_params("dafl", {"iterations": 2.5})


def test_perturbation_draws_from_the_generator_it_is_given():
    logits = torch.randn(6, 10)
    first = perturb_logits(logits, 0.5, 0.3, generator=torch.Generator().manual_seed(3))
    again = perturb_logits(logits, 0.5, 0.3, generator=torch.Generator().manual_seed(3))
    other = perturb_logits(logits, 0.5, 0.3, generator=torch.Generator().manual_seed(4))
    assert torch.equal(first, again) and not torch.equal(first, other)
    if torch.cuda.is_available():  # a CPU generator with CUDA logits: drawn on the CPU, moved to the logits
        assert torch.equal(perturb_logits(logits.cuda(), 0.5, 0.3, generator=torch.Generator().manual_seed(3)).cpu(),
                           first)
