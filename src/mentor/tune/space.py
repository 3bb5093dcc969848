"""The search space: config keys mapped to ranges or choices (``--space FILE`` or the default).

A space file is YAML with dotted config keys; every value a trial gets is applied like
``--set key=value`` on top of the workspace's config::

    training.learning_rate: {low: 1.0e-5, high: 1.0e-3, log: true}  # a range, float or int
    training.warmup_steps: {low: 0, high: 200, step: 20}             #   by the key's type
    training.batch_size: [1, 2, 4]                                   # choices
    eval.val_every: 5                                                # fixed for every trial
    first_trials:                                                    # settings to run first
      - {training.learning_rate: 1.0e-4}

A lineage that goes on keeps some settings whatever the config says (its optimizer keeps the
learning rate it started with, its adapter keeps its shape), so a search over a copy of the live
lineage refuses those keys and points to ``--fresh``; keys that would change which rows are held
out, or the text the loss is measured on, are refused always: trials would not be comparable.
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError

from mentor import config as config_mod
from mentor.config_patch import key_lines, nest
from mentor.errors import ConfigError

Kind = Literal["float", "int", "choice"]
FIRST_TRIALS = "first_trials"

# Settings a continuing lineage keeps, whatever the trial's config says (measured: a second file
# trained with learning_rate 1e-5 ran at the lineage's 1e-3; the adapter kept r=4 under r=8).
LINEAGE_FIXED = {
    "training.learning_rate": "its optimizer and scheduler keep the learning rate they started with",
    "training.weight_decay": "its optimizer keeps its parameter groups",
    "training.lora_r": "its adapter keeps its shape",
    "training.lora_alpha": "its adapter keeps its scaling",
    "training.lora_dropout": "its adapter keeps its dropout",
    "training.lora_targets": "its adapter keeps its target modules",
    "training.method": "a lineage keeps its method",
    "training.warmup_steps": "warmup runs once, at the lineage's first steps",
}

# Keys no trial may change: the objective would be measured differently from trial to trial,
# or the key has nothing to do with training.
REFUSED = {
    "model.": "every trial trains the workspace's base model",
    "chat.": "it changes the text the held-out loss is measured on",
    "data.": "it changes which rows are held out or trained",
    "training.seed": "it changes which rows are held out, so trials would be scored on different rows",
    "tune.": "it is a setting of the search itself",
    "daemon.": "it does not affect training",
    "serve.": "it does not affect training",
    "report.": "it does not affect training",
    "cost.": "it does not affect training",
}


@dataclass(frozen=True)
class Param:
    """One searched key: a float or int range (``log``, ``step``) or a list of choices."""

    key: str
    kind: Kind
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        if self.kind == "choice":
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(
                self.key,
                int(self.low or 0),
                int(self.high or 0),
                step=int(self.step or 1),
                log=self.log,
            )
        return trial.suggest_float(
            self.key, float(self.low or 0.0), float(self.high or 0.0), log=self.log, step=self.step
        )

    def contains(self, value: Any) -> bool:
        if self.kind == "choice":
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        assert self.low is not None and self.high is not None
        if not self.low <= value <= self.high:
            return False
        if self.step:
            k = (value - self.low) / self.step
            return math.isclose(k, round(k), abs_tol=1e-9)
        return self.kind != "int" or float(value).is_integer()

    def to_dict(self) -> Any:
        if self.kind == "choice":
            return list(self.choices)
        out: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.log:
            out["log"] = True
        if self.step is not None:
            out["step"] = self.step
        return out


@dataclass
class Space:
    params: dict[str, Param]
    fixed: dict[str, Any] = field(default_factory=dict)
    first_trials: list[dict[str, Any]] = field(default_factory=list)
    source: str = "default"

    def suggest(self, trial: Any) -> dict[str, Any]:
        """The trial's overrides: the fixed keys, then one value per searched key."""
        return {**self.fixed, **{k: p.suggest(trial) for k, p in self.params.items()}}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: p.to_dict() for k, p in self.params.items()}
        out.update(self.fixed)
        if self.first_trials:
            out[FIRST_TRIALS] = self.first_trials
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)


def default_space(continuing: bool) -> Space:
    """The built-in space. A copy of a live lineage can change only what the lineage does not
    keep (batch, accumulation, clipping); a new lineage searches the learning rate, the LoRA shape
    and warmup too (ranges around the users' Qwen3-0.6B defaults: 2e-4, r = alpha = 64, 100)."""
    batch = {
        "training.batch_size": Param("training.batch_size", "choice", choices=(1, 2, 4)),
        "training.grad_accum": Param("training.grad_accum", "choice", choices=(1, 2, 4, 8)),
    }
    if continuing:
        clip = Param("training.max_grad_norm", "float", 0.1, 10.0, log=True)
        return Space({**batch, clip.key: clip}, source="default (continuing the lineage)")
    params = [
        Param("training.learning_rate", "float", 2e-5, 2e-3, log=True),
        *batch.values(),
        Param("training.lora_r", "choice", choices=(8, 16, 32, 64, 128)),
        Param("training.lora_alpha", "choice", choices=(8, 16, 32, 64, 128, 256)),
        Param("training.lora_dropout", "float", 0.0, 0.2),
        Param("training.warmup_steps", "int", 0, 200, step=10),
    ]
    return Space({p.key: p for p in params}, source="default (new lineage)")


def _field(key: str) -> Any:
    """The pydantic field of a dotted config key, None when there is no such leaf."""
    model: type[BaseModel] = config_mod.Config
    *parents, last = key.split(".")
    for part in parents:
        f = model.model_fields.get(part)
        if f is None or not (
            isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel)
        ):
            return None
        model = f.annotation
    f = model.model_fields.get(last)
    if f is None or (isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel)):
        return None
    return f


def _numeric_kind(annotation: Any) -> Kind | None:
    args = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    if args == [int]:
        return "int"
    if args == [float]:
        return "float"
    return None


class _Reader:
    """Parses a space mapping and collects every error (``file:line: key: problem``)."""

    def __init__(self, source: str, lines: dict[str, int], base: dict[str, Any], continuing: bool):
        self.source, self.lines, self.base, self.continuing = source, lines, base, continuing
        self.errors: list[str] = []

    def err(self, key: str, msg: str) -> None:
        line = self.lines.get(key)
        self.errors.append(f"{self.source}{f':{line}' if line else ''}: {key}: {msg}")

    def check_value(self, key: str, value: Any, what: str) -> None:
        try:
            config_mod.Config.model_validate(config_mod.merge(self.base, nest({key: value})))
        except ValidationError as e:
            for err in e.errors():
                self.err(key, f"{what} {value!r}: {config_mod.error_parts(err)[1]}")

    def allowed(self, key: str) -> bool:
        for prefix, why in REFUSED.items():
            if key == prefix or (prefix.endswith(".") and key.startswith(prefix)):
                self.err(key, f"cannot be searched: {why}")
                return False
        if _field(key) is None:
            self.err(key, "not a config key (see `mentor config show` for the valid ones)")
            return False
        if self.continuing and key in LINEAGE_FIXED:
            self.err(
                key,
                f"a continuing lineage ignores it ({LINEAGE_FIXED[key]}), so search it with --fresh "
                "(each trial starts a new lineage from the base model) or leave it out",
            )
            return False
        return True

    def param(self, key: str, spec: Any) -> Param | None:
        if isinstance(spec, list):
            if not spec or any(isinstance(c, (list, dict)) for c in spec):
                self.err(key, "choices must be a non-empty list of plain values")
                return None
            for c in spec:
                self.check_value(key, c, "choice")
            return Param(key, "choice", choices=tuple(spec))
        kind = _numeric_kind(_field(key).annotation)
        unknown = set(spec) - {"low", "high", "log", "step"}
        if kind is None or unknown or not {"low", "high"} <= set(spec):
            self.err(
                key,
                "a range needs {low, high} (+ log: true or step) on a numeric key, "
                "or give other keys a list of choices",
            )
            return None
        try:
            cast = int if kind == "int" else float
            low, high = cast(spec["low"]), cast(spec["high"])
            step = None if spec.get("step") is None else cast(spec["step"])
        except (TypeError, ValueError):
            self.err(key, f"low/high/step must be {'integers' if kind == 'int' else 'numbers'}")
            return None
        log = bool(spec.get("log", False))
        if low > high:
            self.err(key, f"low {low} > high {high}")
        if log and (low <= 0 or step not in (None, 1)):
            self.err(key, "log: true needs low > 0 and no step")
        if step is not None and step <= 0:
            self.err(key, f"step {step} must be > 0")
        self.check_value(key, low, "low")
        self.check_value(key, high, "high")
        return Param(key, kind, low, high, log=log, step=step)


def parse_space(
    raw: Any, base: config_mod.Config, *, continuing: bool, source: str, lines: dict[str, int]
) -> Space:
    """A space from its mapping; raises one :class:`ConfigError` listing every problem."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of config keys to ranges or choices")
    reader = _Reader(source, lines, config_mod.to_dict(base), continuing)
    space = Space({}, source=source)
    for key, spec in raw.items():
        key = str(key)
        if key == FIRST_TRIALS:
            continue
        if not reader.allowed(key):
            continue
        if isinstance(spec, (list, dict)):
            p = reader.param(key, spec)
            if p is not None:
                space.params[key] = p
        else:
            reader.check_value(key, spec, "value")
            space.fixed[key] = spec
    firsts = raw.get(FIRST_TRIALS) or []
    if not isinstance(firsts, list) or not all(isinstance(t, dict) for t in firsts):
        reader.err(FIRST_TRIALS, "expected a list of mappings {config key: value}")
        firsts = []
    for settings in firsts:
        for key, value in settings.items():
            if key not in space.params:
                reader.err(FIRST_TRIALS, f"{key} is not a searched key of this space")
            else:
                reader.check_value(key, value, "first trial value")
        space.first_trials.append(dict(settings))
    if not space.params and not reader.errors:
        reader.err("(space)", "no key to search")
    if reader.errors:
        raise ConfigError("; ".join(reader.errors))
    return space


def load_space(path: Path | None, base: config_mod.Config, *, continuing: bool) -> Space:
    """``--space FILE``, or the default space for a new or a continuing lineage."""
    if path is None:
        return default_space(continuing)
    try:
        text = path.read_text(encoding="utf-8")
        raw = yaml.safe_load(text)
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: not found", hint="`mentor tune --show-space` prints one to start from"
        ) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: not valid YAML ({getattr(err, 'problem', err)})") from None
    return parse_space(
        raw or {}, base, continuing=continuing, source=str(path), lines=key_lines(text)
    )
