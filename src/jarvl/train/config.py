"""The experiment config: model (a preset plus overrides), data, optimiser and run settings.

YAML files mirror these dataclasses; the model section names a preset and overrides any of its
fields (``model: {preset: tiny, fusion: {name: concat}}``). Command-line ``--set`` uses dotted
keys (``--set optim.lr=3e-4 --set model.fusion.num_tokens=8``). Unknown keys are errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from jarvl.blocks.config import ModelConfig
from jarvl.config import ConfigError, apply_overrides, flatten_dict, from_dict, range_problems, to_dict
from jarvl.data.mixture import MixtureConfig
from jarvl.devices import DEVICE_PATTERN
from jarvl.models.presets import get_preset


@dataclass
class DataConfig:
    """Datasets as specs ``FORMAT:PATH[:SPLIT]`` (e.g. ``synthetic:vqa:train?n=50000``)."""

    train: list[str] = field(default_factory=lambda: ["synthetic:vqa:train?n=100000"])
    val: list[str] = field(default_factory=lambda: ["synthetic:vqa:val?n=1000"])
    batch_size: int = 64  # global batch per optimiser step (all ranks, all accumulation steps)
    num_workers: int = 1
    max_bad_fraction: float = 0.01  # abort when more than this share of records is unusable
    tokenizer: Literal["wordlevel", "bpe"] = "wordlevel"
    vocab_size: int = 8000
    tokenizer_samples: int = 20000  # training records read to train the tokenizer (shared evenly)
    # A mixture {name: spec}: each step's whole batch comes from one dataset, picked by `sampling`
    # (docs/sampling.md). When given, it replaces `train`.
    mixture: dict[str, str] = field(default_factory=dict)
    sampling: MixtureConfig = field(default_factory=MixtureConfig)
    loss_weights: dict[str, float] = field(default_factory=dict)  # per mixture dataset; default 1

    def problems(self) -> list[str]:
        """Values out of range, each as ``data.KEY must be ...``."""
        out = range_problems(
            self,
            "data.",
            {
                "batch_size": (1, 1 << 16),
                "num_workers": (0, 256),
                "max_bad_fraction": (0, 1),
                "vocab_size": (5, 1 << 24),
                "tokenizer_samples": (1, None),
            },
        )
        out += [f"data.loss_weights.{k} must be >= 0, got {v!r}" for k, v in self.loss_weights.items() if not v >= 0]
        return out


@dataclass
class OptimConfig:
    """AdamW with linear warm-up then cosine (or constant) decay."""

    lr: float = 3e-4  # 1e-3 held every from-scratch tiny model on the language prior (docs/recipe.md)
    min_lr_ratio: float = 0.05  # final lr = lr * min_lr_ratio (cosine)
    weight_decay: float = 0.05
    gate_weight_decay: bool = False  # decay pulls tanh gates to 0 and keeps a model text-only
    beta1: float = 0.9
    beta2: float = 0.98
    warmup_steps: int = 100
    schedule: Literal["cosine", "constant"] = "cosine"
    grad_clip: float = 1.0  # 0: off
    accumulation: int = 1  # micro-batches per optimiser step

    def problems(self) -> list[str]:
        """Values out of range, each as ``optim.KEY must be ...``."""
        out = [] if 0 < self.lr <= 1 else [f"optim.lr must be in (0, 1], got {self.lr!r}"]
        return out + range_problems(
            self,
            "optim.",
            {
                "min_lr_ratio": (0, 1),
                "weight_decay": (0, None),
                "beta1": (0, 0.9999999),
                "beta2": (0, 0.9999999),
                "warmup_steps": (0, None),
                "grad_clip": (0, None),
                "accumulation": (1, 1 << 16),
            },
        )


@dataclass
class RunConfig:
    """How long, how often, on what."""

    max_steps: int = 2000  # optimiser steps; the schedule spans these
    max_minutes: float = 0.0  # stop on wall time (then evaluate and checkpoint as at a normal end); 0 = off
    eval_every: int = 500  # steps; 0 = only at the end
    eval_samples: int = 1000
    eval_every_minutes: float = 0.0  # also evaluate on wall time (for accuracy-vs-time curves); 0 = off
    checkpoint_every: int = 500
    log_every: int = 10
    seed: int = 0
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 autocast on CUDA, fp32 on CPU
    device: str = "auto"
    threads: int = 0  # torch intra-op threads; 0 = leave torch's default
    progress: bool = True
    # Train through torch.compile (the training forward; evaluation and generate stay eager). The first
    # steps pay the compilation (minutes for paper-base); worth it on a GPU: there JAR paper-base went
    # from 0.89x to 1.11x concat's samples/s (benchmarks/results/gpu_fusions_compiled.cuda.md). On 2 CPU
    # cores the tiny model trained slower compiled than eager (benchmarks/results/train_speed.md).
    compile: bool = False

    def problems(self) -> list[str]:
        """Values out of range, each as ``run.KEY must be ...``."""
        out = range_problems(
            self,
            "run.",
            {
                "max_steps": (0, None),
                "max_minutes": (0, None),
                "eval_every": (0, None),
                "eval_samples": (1, None),
                "eval_every_minutes": (0, None),
                "checkpoint_every": (0, None),
                "log_every": (1, None),
                "seed": (0, 2**32 - 1),
                "threads": (0, 1024),
            },
        )
        if not re.fullmatch(DEVICE_PATTERN, self.device):
            out.append(f"run.device must be auto, cpu, cuda, cuda:N or mps, got {self.device!r}")
        return out


@dataclass
class ExperimentConfig:
    """Everything a run needs; saved in the run directory and inside every checkpoint."""

    model: ModelConfig = field(default_factory=lambda: get_preset("tiny"))
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)
    # The model settings laid beneath the experiment's own (jarvl.train.recipe): "paper" (the
    # library's defaults, the paper's plain JAR) or "learns" (what jarvl train starts from).
    recipe: Literal["paper", "learns"] = "paper"


def build_experiment(data: dict[str, Any] | None = None, overrides: list[str] | None = None) -> ExperimentConfig:
    """Experiment from a YAML-like dict and dotted ``key=value`` overrides.

    ``model.preset`` (in the dict or the overrides) selects the preset the model section starts
    from; ``recipe`` (likewise; ``jarvl.train.recipe``) fills the model keys neither sets; every
    other model key overrides a field of it.
    """
    from jarvl.train.recipe import fit_recipe, unset_recipe_keys

    data = dict(data or {})
    overrides = list(overrides or [])
    model_section = dict(data.pop("model", {}) or {})
    if not isinstance(model_section, dict):
        raise ConfigError("'model' must be a mapping")
    preset = model_section.pop("preset", "tiny")
    recipe = data.pop("recipe", "paper")
    for item in list(overrides):
        if item.startswith("model.preset="):
            preset = item.split("=", 1)[1]
            overrides.remove(item)
        elif item.startswith("recipe="):
            recipe = item.split("=", 1)[1]
            overrides.remove(item)
    model_keys = flatten_dict(model_section)
    explicit = set(model_keys) | {o.split("=", 1)[0].removeprefix("model.") for o in overrides if o.startswith("model.")}
    supplied = unset_recipe_keys(str(recipe), explicit)
    model = get_preset(str(preset))
    model = apply_overrides(model, supplied, prefix="model.")
    model = apply_overrides(model, model_keys, prefix="model.")
    cfg = from_dict(ExperimentConfig, {k: v for k, v in data.items()})
    cfg.model = model
    cfg.recipe = recipe
    cfg = apply_overrides(cfg, overrides)
    fit_recipe(cfg.model, supplied)
    return validate_experiment(cfg)


def validate_experiment(cfg: ExperimentConfig) -> ExperimentConfig:
    """Check every value a run would otherwise trip over later (STYLE rule 10); returns ``cfg``.

    Raises:
        ConfigError: naming each key out of range (``run.max_steps must be >= 1, got -1``), an
            unknown fusion, or an inconsistent model config.
    """
    from jarvl.models.fusions import check_fusion_name

    problems = cfg.data.problems() + cfg.optim.problems() + cfg.run.problems()
    if problems:
        raise ConfigError("invalid config: " + "; ".join(problems))
    check_fusion_name(cfg.model.fusion.name)
    cfg.model.validate()
    return cfg


def experiment_dict(cfg: ExperimentConfig) -> dict[str, Any]:
    """Plain dict of the resolved config (YAML/JSON-serialisable)."""
    return to_dict(cfg)


def shipped_recipe(name: str, overrides: list[str] | None = None) -> ExperimentConfig:
    """A recipe shipped in ``jarvl/configs`` (``demo``, ``one_object``) with dotted overrides."""
    from importlib import resources

    import yaml

    text = resources.files("jarvl.configs").joinpath(f"{name}.yaml").read_text()
    return build_experiment(yaml.safe_load(text), overrides)
