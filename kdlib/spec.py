"""A run's spec: every field that decides its outcome, frozen and hashed to the id its record is stored under.

Two specs with the same fields share one id. A field added later is left out of the id while it holds its default,
so older records keep theirs. The store (``kdlib.runs``) reads and writes the records; this module only describes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass

from kdlib import data as data_module
from kdlib.data import AUGMENTATIONS, DATASETS
from kdlib.methods import get_method, parse_params
from kdlib.models import MODELS, model_kind
from kdlib.optim import OPTIMIZERS, SCHEDULES


KIND_WORDS = {"classifier": "a plain classifier", "pair": "a light net and booster pair (a rocket_* model)",
              "exits": "a network with exits (a *_sd_* model)", "generator": "a generator (a dafl_generator_* model)"}


@dataclass(frozen=True)
class RunSpec:
    """Everything that decides a run's outcome. Two specs with the same fields share one id and one record.

    ``teacher`` is the full spec of the teacher run, so a student's id changes whenever its teacher's does.
    ``extra_teachers`` (specs of further teachers, e.g. other seeds) make each training row learn from one teacher
    drawn at random; left empty, the field is not part of the id, so older records keep theirs.
    ``stop_step`` stops training after that many optimiser steps of the schedule ``epochs`` describes: a checkpoint
    of a longer run, e.g. a poorly trained teacher. Left None, it is not part of the id either.
    ``init_from_teacher`` starts the model from its teacher's weights wherever names and shapes match (Rocket
    Launching without joint training); part of the id only when true.
    ``generator`` is the spec of a generator run (RDSKD's first stage) whose frozen generator makes the images a
    data-free student learns from; left None, it is not part of the id.
    ``omit_classes`` leaves every training image of those classes out of the run's training set (Hinton et al.'s
    transfer set without the digit 3); validation and test keep them, and the record adds ``bias_sweep``. Left
    empty, it is not part of the id.
    ``train_size`` trains on that many images of the training split, drawn after the validation split is carved:
    validation is the same ``val_size`` images whatever the training size, and test is always the whole test set.
    It replaces ``subset``, the first edition's protocol, which also cut validation to a quarter of it and the test
    set to its first ``subset`` images; left None, it is not part of the id.
    ``eval_every`` validates every that many epochs (and at the end) and tests once, at the end, instead of both
    after every epoch (the first edition's protocol, which spent up to half of a small run evaluating): the reported
    model is the last epoch's. Left None, it is not part of the id.
    """

    dataset: str
    model: str
    method: str = "ce"
    method_params: tuple = ()
    teacher: "RunSpec | None" = None
    epochs: int = 10
    seed: int = 0
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 128
    schedule: str = "cosine"
    augment: str = "none"
    val_size: int = 5000
    subset: int | None = None
    extra_teachers: tuple = ()
    stop_step: int | None = None
    init_from_teacher: bool = False
    generator: "RunSpec | None" = None
    omit_classes: tuple = ()
    train_size: int | None = None
    eval_every: int | None = None

    def __post_init__(self):
        method = get_method(self.method)
        canonical = method.params.canonical(dict(self.method_params))
        object.__setattr__(self, "method_params", tuple(sorted(canonical.items())))
        for name, value, allowed in (("dataset", self.dataset, DATASETS), ("model", self.model, tuple(MODELS)),
                                     ("optimizer", self.optimizer, OPTIMIZERS), ("schedule", self.schedule, SCHEDULES),
                                     ("augment", self.augment, AUGMENTATIONS)):
            if value not in allowed:
                raise ValueError(f"unknown {name} {value!r}; choose one of: {', '.join(allowed)}")
        if (self.optimizer == "hinton2012") != (self.schedule == "hinton2012"):
            raise ValueError("optimizer 'hinton2012' and schedule 'hinton2012' are one recipe (Hinton et al. 2012's "
                             "update, momentum ramp and learning-rate decay): set both or neither")
        if self.optimizer == "hinton2012" and not 0.5 <= self.momentum < 1:
            raise ValueError(f"the hinton2012 recipe ramps momentum from 0.5 up to momentum=, so it must lie in "
                             f"[0.5, 1) (the paper's is 0.99); got {self.momentum}")
        if self.optimizer == "hinton2012" and self.weight_decay:
            raise ValueError("the hinton2012 recipe regularises by a max-norm bound, not weight decay; "
                             f"set weight_decay=0 (got {self.weight_decay})")
        parse_params(self.method, canonical, data_module.n_classes(self.dataset))
        if method.needs_teacher and self.teacher is None:
            raise ValueError(f"method {self.method!r} needs a teacher spec (teacher=RunSpec(...))")
        if not method.needs_teacher and self.teacher is not None:
            raise ValueError(f"method {self.method!r} takes no teacher; drop teacher= or use a distillation method")
        kind = model_kind(self.model)
        if kind != method.model_kind:
            raise ValueError(f"method {self.method!r} and model {self.model!r} do not fit: the method trains "
                             f"{KIND_WORDS[method.model_kind]}, and {self.model!r} is {KIND_WORDS[kind]}")
        object.__setattr__(self, "extra_teachers", tuple(self.extra_teachers))
        if self.init_from_teacher and self.teacher is None:
            raise ValueError("init_from_teacher needs a teacher (teacher=RunSpec(...)) to copy weights from")
        if self.extra_teachers and self.teacher is None:
            raise ValueError("extra_teachers need a first teacher (teacher=RunSpec(...))")
        if self.extra_teachers and self.augment != "none":
            raise ValueError("several teachers are read from cached logits of un-augmented images; "
                             f"use augment='none' (got {self.augment!r})")
        if self.generator is not None and not isinstance(self.generator, RunSpec):
            raise ValueError(f"generator must be the RunSpec of a generator run, got {type(self.generator).__name__}")
        if (self.generator is not None) != method.takes_generator:
            raise ValueError(f"method {self.method!r} " + ("needs a frozen generator, the spec of its generator run "
                                                           "(generator=RunSpec(...); on the command line --generator ID)"
                                                           if method.takes_generator else
                                                           "trains on no frozen generator; drop generator="))
        if not method.reads_training_images and self.val_size != 0:
            raise ValueError(f"method {self.method!r} is data-free: it may not validate on training images; "
                             f"set val_size=0 (got {self.val_size})")
        if method.check_spec is not None:
            method.check_spec(self)
        for teacher in ([self.teacher] if self.teacher else []) + list(self.extra_teachers):
            if not isinstance(teacher, RunSpec):
                raise ValueError(f"a teacher must be a RunSpec, got {type(teacher).__name__}")
            if not method.reads_training_images and teacher.dataset == self.dataset:
                continue  # a data-free run reads no training image, so the teacher's split cannot leak into it
            if (teacher.dataset, teacher.subset, teacher.val_size) != (self.dataset, self.subset, self.val_size):
                raise ValueError("a teacher must be trained on the same dataset, subset and validation split as "
                                 "its student, or its soft targets would leak held-out images")
            if self.train_size is not None and teacher.train_size is not None and teacher.train_size < self.train_size:
                raise ValueError(f"a teacher trained on {teacher.train_size} images cannot label a student's "
                                 f"{self.train_size}: give the teacher at least the student's train_size")
        for name, value, low in (("epochs", self.epochs, 1), ("batch_size", self.batch_size, 1),
                                 ("seed", self.seed, 0), ("val_size", self.val_size, 0)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if self.train_size is not None and self.subset is not None:
            raise ValueError("train_size and subset are two protocols for a smaller training set; use train_size "
                             "(subset, the first edition's, also cuts validation and test)")
        for name, value in (("subset", self.subset), ("stop_step", self.stop_step), ("train_size", self.train_size),
                            ("eval_every", self.eval_every)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
        classes = data_module.n_classes(self.dataset)
        omitted = tuple(self.omit_classes)
        if any(isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < classes for c in omitted) \
                or len(set(omitted)) != len(omitted) or len(omitted) >= classes:
            raise ValueError(f"omit_classes must be distinct class indices in 0..{classes - 1} of {self.dataset}, "
                             f"leaving at least one class to train on; got {self.omit_classes!r}")
        if omitted and not method.reads_training_images:
            raise ValueError(f"method {self.method!r} reads no training image, so it has no class to omit; "
                             "drop omit_classes")
        object.__setattr__(self, "omit_classes", tuple(sorted(omitted)))

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["method_params"] = dict(self.method_params)
        out["teacher"] = self.teacher.to_dict() if self.teacher else None
        if self.extra_teachers:
            out["extra_teachers"] = [teacher.to_dict() for teacher in self.extra_teachers]
        else:
            del out["extra_teachers"]
        if self.stop_step is None:
            del out["stop_step"]
        if not self.init_from_teacher:
            del out["init_from_teacher"]
        if self.generator is None:
            del out["generator"]
        else:
            out["generator"] = self.generator.to_dict()
        if self.omit_classes:
            out["omit_classes"] = list(self.omit_classes)
        else:
            del out["omit_classes"]
        for name in ("train_size", "eval_every"):
            if out[name] is None:
                del out[name]
        return out

    @classmethod
    def from_dict(cls, values: dict) -> "RunSpec":
        values = dict(values)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown RunSpec field(s) {', '.join(unknown)}; fields: {', '.join(sorted(known))}")
        if values.get("teacher"):
            values["teacher"] = cls.from_dict(values["teacher"])
        if values.get("generator"):
            values["generator"] = cls.from_dict(values["generator"])
        values["extra_teachers"] = tuple(cls.from_dict(teacher) for teacher in values.get("extra_teachers") or ())
        values["method_params"] = tuple(dict(values.get("method_params") or {}).items())
        values["omit_classes"] = tuple(values.get("omit_classes") or ())
        return cls(**values)

    @property
    def id(self) -> str:
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    def replace(self, **changes) -> "RunSpec":
        return dataclasses.replace(self, **changes)


def per_seed(student: RunSpec, teacher: RunSpec, seeds) -> list[RunSpec]:
    """Student seed s learning from teacher seed s (the protocol of 2026-12-07), so that the teacher's own variation
    enters every interval; the first edition taught every student seed from the seed-0 teacher."""
    return [student.replace(seed=seed, teacher=teacher.replace(seed=seed)) for seed in seeds]


# --- records ----------------------------------------------------------------------------------------------------
