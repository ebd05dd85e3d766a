"""The method contract: what a run trains, declared once by each method and run by the one loop in ``kdlib.train``.

A method declares:
- ``params``: a frozen dataclass of its knobs (``Params``), typed and range-checked. A spec stores them in their
  canonical form, numbers (a choice as its index, a flag as 0 or 1), so record ids do not depend on how they were
  written;
- ``model_kind``: the kind of registered model it trains (``kdlib.models.MODELS``: classifier, pair, exits,
  generator);
- ``loss``: its loss on the run's model's training outputs (a classifier, pair or network with exits) (``kdlib.models.training_outputs``):
  ``loss(student_logits, labels, [teacher_logits], [the model's other outputs by name], **params)`` returning named
  terms with the total under ``"loss"``. A method never calls ``backward()`` or builds an optimiser;
- ``feed``: what each step starts from when it is not the training set (data-free KD: noise or latents);
- ``phases``: what it trains besides (or instead of) the run's model's loss, each a ``Phase`` the loop updates in
  order at every step (DAFL's generator before its student; RDSKD's generator run is one such phase);
- ``report``: metrics of the finished run beyond the loop's (what a generator makes);
- ``check_spec``: what it demands of a whole spec (RDSKD's pairs need an even batch), checked when the spec is made.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn


# --- typed parameters ---------------------------------------------------------------------------------------------

def number(default: float, doc: str, low: float | None = None, high: float | None = None,
           low_open: bool = False, integer: bool = False):
    """A numeric knob in [low, high] (or (low, high] with ``low_open``); ``integer`` for counts."""
    return field(default=default, metadata={"doc": doc, "low": low, "high": high, "low_open": low_open,
                                            "integer": integer})


def choice(default: Any, doc: str, options: tuple):
    """One of ``options`` (strings, or numbers such as widths); stored in a spec as its index, or the number."""
    return field(default=default, metadata={"doc": doc, "options": tuple(options)})


def flag(default: bool, doc: str):
    """On or off; stored in a spec as 1 or 0."""
    return field(default=default, metadata={"doc": doc, "flag": True})


@dataclass(frozen=True)
class Params:
    """The typed knobs of one method; subclasses declare fields with ``number``, ``choice`` and ``flag`` and may add
    ``check(n_classes)`` for constraints between knobs or on the dataset."""

    def check(self, n_classes: int | None) -> None:
        return None

    @classmethod
    def parse(cls, values: dict, n_classes: int | None = None, method: str = "") -> "Params":
        """The defaults updated with ``values`` (typed values, or the canonical numbers a spec stores); an unknown
        knob or a bad value raises ValueError naming it and what is allowed."""
        fields = _fields(cls)
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ValueError(f"method {method!r} has no parameter {', '.join(unknown)}; its parameters: "
                             f"{', '.join(sorted(fields)) or 'none'}")
        typed = {name: _decode(fields[name], value) for name, value in values.items()}
        params = cls(**typed)
        for name, spec_field in fields.items():
            _check_field(spec_field, getattr(params, name))
        params.check(n_classes)
        return params

    @classmethod
    def canonical(cls, values: dict) -> dict[str, float]:
        """How a spec stores ``values``: every knob as a float (a choice of strings as its index, a flag as 0/1)."""
        fields = _fields(cls)
        canonical = {}
        for name, value in values.items():
            if name not in fields:  # parse() names the unknown knob
                canonical[name] = value
                continue
            typed = _decode(fields[name], value)
            _check_field(fields[name], typed)
            canonical[name] = _encode(fields[name], typed)
        return canonical

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def describe(self) -> str:
        """``name=value, ...`` as a reader would write them (``hint=mimic, grad_block=on``); "–" when none."""
        return ", ".join(f"{name}={_show(value)}" for name, value in self.as_dict().items()) or "–"


def _fields(params: type[Params]) -> dict:
    return {f.name: f for f in dataclasses.fields(params)}


def _named_choice(meta) -> bool:
    """A choice among strings: stored in a spec as its index."""
    return "options" in meta and isinstance(meta["options"][0], str)


def _decode(spec_field, value):
    meta = spec_field.metadata
    if isinstance(value, str) and not _named_choice(meta):
        if meta.get("flag") and value in ("on", "off"):
            return value == "on"
        try:
            value = float(value)  # "0.5" as 0.5
        except ValueError:
            raise ValueError(f"{spec_field.name} ({meta['doc']}) is a {'flag' if meta.get('flag') else 'number'}, "
                             f"got the string {value!r}") from None
    if not isinstance(value, str) and not isinstance(value, bool) and not math.isfinite(value) \
            and ("options" in meta or meta.get("integer") or meta.get("flag")):
        raise ValueError(f"{spec_field.name} ({meta['doc']}) must be a finite number, got {value!r}")
    if _named_choice(meta):
        if isinstance(value, str):
            return value  # checked against the options by _check_field
        if not isinstance(value, bool) and float(value) == int(value) and 0 <= int(value) < len(meta["options"]):
            return meta["options"][int(value)]
        raise ValueError(f"{spec_field.name} ({meta['doc']}) must be one of {', '.join(meta['options'])} "
                         f"(or their index 0..{len(meta['options']) - 1}), got {value!r}")
    if meta.get("flag"):
        if value in (0, 1) or isinstance(value, bool):
            return bool(value)
        raise ValueError(f"{spec_field.name} ({meta['doc']}) is a flag: 0 (off) or 1 (on), got {value!r}")
    if isinstance(value, bool):
        raise ValueError(f"{spec_field.name} ({meta['doc']}) is a number, got {value!r}")
    if meta.get("integer") or ("options" in meta and isinstance(meta["options"][0], int)):
        if float(value) != int(value):
            raise ValueError(f"{spec_field.name} ({meta['doc']}) must be a whole number, got {value!r}")
        return int(value)
    return float(value)


def _encode(spec_field, value) -> float:
    if _named_choice(spec_field.metadata):
        return float(spec_field.metadata["options"].index(value))
    return float(value)


def _check_field(spec_field, value) -> None:
    meta, name = spec_field.metadata, spec_field.name
    if "options" in meta:
        if value not in meta["options"]:
            raise ValueError(f"{name} ({meta['doc']}) must be one of {', '.join(map(str, meta['options']))}, "
                             f"got {value!r}")
        return
    if meta.get("flag"):
        return
    low, high = meta.get("low"), meta.get("high")
    too_low = low is not None and (value <= low if meta.get("low_open") else value < low)
    if math.isfinite(value) and not too_low and (high is None or value <= high):
        return
    if low is None and high is None:
        allowed = "be a finite number"
    elif high is None:
        allowed = f"be {'>' if meta.get('low_open') else '>='} {low:g}"
    else:
        allowed = f"lie in {'(' if meta.get('low_open') else '['}{low:g}, {high:g}]"
    raise ValueError(f"{name} ({meta['doc']}) must {allowed}, got {value!r}")


@dataclass(frozen=True)
class NoParams(Params):
    pass


# --- what a method hands the loop ----------------------------------------------------------------------------------

@dataclass
class Context:
    """What a method's phases, feed and report may read: the run's spec, typed parameters, data, device, its model
    (built and seeded by the loop), the fixed teacher model and a frozen generator when the store loaded them;
    ``extras`` holds modules a phase trains besides the run's model, which the run store keeps with the run."""
    spec: Any
    params: Params
    data: Any
    device: torch.device
    model: nn.Module
    teacher: nn.Module | None = None
    generator: nn.Module | None = None
    extras: dict[str, nn.Module] = field(default_factory=dict)


@dataclass
class Phase:
    """One module's update at every step: ``step(batch)`` reads the step's batch (a dict of tensors that earlier
    phases may have added to) and returns named loss terms, the total under ``"loss"``; the loop then zeroes the
    gradients, back-propagates and steps ``optimizer``. The terms are logged per epoch as ``<log>_<term>``.
    ``scheduled``: the learning rate follows the spec's schedule (otherwise it stays as the optimiser was built);
    ``state``: an object with ``state_dict``/``load_state_dict`` that a resumed run must restore as well."""
    name: str
    module: nn.Module
    optimizer: torch.optim.Optimizer | None
    step: Callable[[dict], dict[str, torch.Tensor]]
    log: str = "train"
    scheduled: bool = True
    state: Any = None


@dataclass
class Method:
    name: str
    params: type[Params]
    model_kind: str
    needs_teacher: bool
    loss: Callable[..., dict[str, torch.Tensor]] | None = None
    feed: Callable[[Context], Any] | None = None  # None: batches of the training set
    phases: Callable[[Context], list[Phase]] | None = None
    report: Callable[[Context, list[dict]], dict] | None = None
    extra_models: Callable[[Params], dict[str, str]] | None = None  # modules trained besides the run's model, by name
    takes_generator: bool = False  # learns from a frozen generator, the spec of another run (RunSpec.generator)
    check_spec: Callable[[Any], None] | None = None  # what the method demands of a whole spec, beyond its params

    @property
    def reads_training_images(self) -> bool:
        return self.feed is None


METHODS: dict[str, Method] = {}


def register_method(name: str, params: type[Params] = NoParams, needs_teacher: bool = False,
                    model_kind: str = "classifier", **declaration):
    """Register the decorated loss under ``name``; a method without a loss of its model (a generator run, whose
    phases say what it trains) registers ``None``: ``register_method(name, ...)(None)``."""
    def decorate(loss):
        METHODS[name] = Method(name, params, model_kind, needs_teacher, loss=loss, **declaration)
        return loss
    return decorate


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; known methods: {', '.join(sorted(METHODS))}")
    return METHODS[name]


def describe_params(name: str, params: dict) -> str:
    """The knobs a spec sets (not the defaults), as a reader would write them: ``hint=kd, lam=0.1``."""
    fields = _fields(get_method(name).params)
    shown = []
    for key, value in sorted(params.items()):
        typed = _decode(fields[key], value) if key in fields else value
        shown.append(f"{key}={_show(typed)}")
    return ", ".join(shown)


def _show(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def parse_params(name: str, params: dict, n_classes: int | None = None) -> Params:
    """The typed parameters of method ``name`` (``n_classes``, the dataset's, lets a check refuse values that only
    make sense for some class counts)."""
    return get_method(name).params.parse(dict(params), n_classes, name)


def resolve_params(name: str, params: dict, n_classes: int | None = None) -> dict:
    """``parse_params`` as a dict, ready to pass to a loss as keywords."""
    return parse_params(name, params, n_classes).as_dict()
