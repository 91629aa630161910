"""Recipes and search spaces: plain YAML loaded into frozen dataclasses.

A recipe holds a study's own configuration as one point (``point``) and a
search space around it (``space``); ``smoke`` scales it down so it runs end to
end in minutes on a CPU. A user's ``--space FILE.yaml`` uses the same schema
(optionally ``base: <recipe id>`` to start from a recipe). Unknown keys at any
level are errors naming the key, the file and the allowed keys.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medzoo.errors import ConfigError
from medzoo.registry import Registry
from medzoo.search.config import FIELDS, TrialConfig, check_keys, coerce, from_dict

RECIPE_DIR = Path(__file__).parent / "recipes"
PARAM_KINDS = ("choice", "grid", "uniform", "loguniform", "int", "logint")
TOP_KEYS = ("id", "base", "dataset", "title", "study", "notes", "point", "space", "smoke")
SMOKE_KEYS = ("set", "space", "limit")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Param:
    """One searched dimension: a categorical choice or a numeric range."""

    name: str
    kind: str
    values: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None

    def contains(self, value: Any) -> bool:
        if self.kind in ("choice", "grid"):
            return value in self.values
        return value is not None and self.low <= value <= self.high

    def to_tune(self) -> Any:
        from ray import tune

        if self.kind == "choice":
            return tune.choice(list(self.values))
        if self.kind == "grid":  # every value, each `samples` times (random search only)
            return tune.grid_search(list(self.values))
        if self.kind == "uniform":
            return tune.uniform(self.low, self.high)
        if self.kind == "loguniform":
            return tune.loguniform(self.low, self.high)
        if self.kind == "int":
            return tune.randint(int(self.low), int(self.high) + 1)  # upper bound exclusive in Tune
        return tune.lograndint(int(self.low), int(self.high) + 1)

    def to_dict(self) -> dict[str, Any]:
        if self.kind in ("choice", "grid"):
            return {"type": self.kind, "values": list(self.values)}
        return {"type": self.kind, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class Smoke:
    """How ``--smoke`` scales a recipe: fixed overrides, a smaller space, rows per split."""

    set: dict[str, Any] = field(default_factory=dict)
    space: dict[str, Param] = field(default_factory=dict)
    limit: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Recipe:
    id: str
    dataset: str | None
    title: str
    study: str
    point: TrialConfig
    space: dict[str, Param]
    smoke: Smoke
    notes: tuple[str, ...] = ()
    source: str = ""  # the file it came from
    limit: dict[str, int] = field(default_factory=dict)  # rows per split (set by smoke)
    is_smoke: bool = False

    def space_dict(self) -> dict[str, Any]:
        return {k: p.to_dict() for k, p in self.space.items()}

    def smoked(self) -> Recipe:
        """The smoke-scaled recipe: ``smoke.set`` fixes keys (dropping them from the space)."""
        where = f"{self.source} (smoke)"
        point = from_dict({**self.point.to_dict(), **self.smoke.set}, where=where)
        space = {k: p for k, p in self.space.items() if k not in self.smoke.set}
        space.update(self.smoke.space)
        _check_point_in_space(point, space, where=where)
        return Recipe(
            id=self.id,
            dataset=self.dataset,
            title=self.title,
            study=self.study,
            point=point,
            space=space,
            smoke=self.smoke,
            notes=self.notes,
            source=self.source,
            limit=dict(self.smoke.limit),
            is_smoke=True,
        )

    def tune_space(self) -> dict[str, Any]:
        """Ray Tune's param_space: every config key, searched ones as Tune domains."""
        fixed = {k: v for k, v in self.point.to_dict().items() if k not in self.space}
        return {**fixed, **{k: p.to_tune() for k, p in self.space.items()}}

    def point_to_evaluate(self) -> dict[str, Any]:
        """The study's own configuration, evaluated first by the searcher (grid keys are enumerated anyway)."""
        d = self.point.to_dict()
        return {k: d[k] for k, p in self.space.items() if p.kind != "grid"}

    def points_to_evaluate(self) -> list[dict[str, Any]]:
        """What the searcher evaluates first: the study's point; at smoke scale, also each other family.

        Why: a smoke sweep has a handful of trials, and a sampler left alone may spend them all on
        one family, so its board would compare nothing. Seeding the study's point with every family
        of the smoke space puts each architecture on the board once before the search explores.
        """
        first = self.point_to_evaluate()
        if not first:
            return []
        points = [first]
        family = self.space.get("family")
        if self.is_smoke and family is not None and family.kind == "choice" and "family" in first:
            points += [{**first, "family": f} for f in family.values if f != first["family"]]
        return points


def _param(name: str, spec: Any, *, where: str) -> Param:
    where = f"{where}: space.{name}"
    if name not in FIELDS:
        check_keys([name], FIELDS, where=where.rsplit(".", 1)[0])
    if not isinstance(spec, dict):
        raise ConfigError(f"{where} must be a mapping with 'type', got {spec!r}")
    kind = spec.get("type")
    if kind not in PARAM_KINDS:
        raise ConfigError(f"{where}: type must be one of {', '.join(PARAM_KINDS)}, got {kind!r}")
    if kind in ("choice", "grid"):
        check_keys(spec, ("type", "values"), where=where)
        values = spec.get("values")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}: values must be a non-empty list, got {values!r}")
        return Param(name, kind, values=tuple(coerce(name, v, where=where) for v in values))
    check_keys(spec, ("type", "low", "high"), where=where)
    low, high = coerce(name, spec.get("low"), where=where), coerce(name, spec.get("high"), where=where)
    if low is None or high is None or not low <= high:
        raise ConfigError(f"{where}: low <= high must hold, got low={low}, high={high}")
    if kind.startswith("log") and low <= 0:
        raise ConfigError(f"{where}: a log scale needs low > 0, got low={low}")
    if kind in ("int", "logint") and not (float(low).is_integer() and float(high).is_integer()):
        raise ConfigError(f"{where}: integer ranges need integer bounds, got low={low}, high={high}")
    if kind in ("uniform", "loguniform") and not (math.isfinite(low) and math.isfinite(high)):
        raise ConfigError(f"{where}: bounds must be finite, got low={low}, high={high}")
    return Param(name, kind, low=low, high=high)


def _space(data: Any, *, where: str) -> dict[str, Param]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{where}: space must be a mapping of key -> {{type: ...}}, got {type(data).__name__}"
        )
    return {name: _param(name, spec, where=where) for name, spec in data.items()}


def _check_point_in_space(point: TrialConfig, space: dict[str, Param], *, where: str) -> None:
    for name, p in space.items():
        value = getattr(point, name)
        if not p.contains(value):
            raise ConfigError(
                f"{where}: the point's {name}={value!r} must lie in its space {p.to_dict()}",
                fix=f"widen space.{name} or change point.{name}",
            )


def parse_recipe(data: Any, *, source: str, base: Recipe | None = None) -> Recipe:
    """Validate a recipe/space mapping (already parsed YAML) into a :class:`Recipe`."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a recipe must be a YAML mapping, got {type(data).__name__}")
    check_keys(data, TOP_KEYS, where=source)
    point_data = data.get("point") or {}
    if not isinstance(point_data, dict):
        raise ConfigError(f"{source}: point must be a mapping of config keys")
    base_point = base.point.to_dict() if base else {}
    point = from_dict({**base_point, **point_data}, where=f"{source}: point")
    space = _space(data["space"], where=source) if "space" in data else dict(base.space if base else {})
    smoke_data = data.get("smoke")
    if smoke_data is None:
        smoke = base.smoke if base else Smoke()
    else:
        if not isinstance(smoke_data, dict):
            raise ConfigError(f"{source}: smoke must be a mapping with keys {', '.join(SMOKE_KEYS)}")
        check_keys(smoke_data, SMOKE_KEYS, where=f"{source}: smoke")
        sets = smoke_data.get("set") or {}
        check_keys(sets, FIELDS, where=f"{source}: smoke.set")
        limit = smoke_data.get("limit") or {}
        check_keys(limit, SPLITS, where=f"{source}: smoke.limit")
        for split, n in limit.items():
            if not isinstance(n, int) or n < 1:
                raise ConfigError(f"{source}: smoke.limit.{split} must be a positive integer, got {n!r}")
        smoke = Smoke(
            set={k: coerce(k, v, where=f"{source}: smoke.set") for k, v in sets.items()},
            space=_space(smoke_data.get("space"), where=f"{source}: smoke"),
            limit=dict(limit),
        )
    _check_point_in_space(point, space, where=source)
    notes = data.get("notes") or (base.notes if base else ())
    return Recipe(
        id=str(data.get("id") or (base.id if base else Path(source).stem)),
        dataset=data.get("dataset") or (base.dataset if base else None),
        title=str(data.get("title") or (base.title if base else "")),
        study=str(data.get("study") or (base.study if base else "")),
        point=point,
        space=space,
        smoke=smoke,
        notes=tuple(notes) if isinstance(notes, list | tuple) else (str(notes),),
        source=source,
    )


def _read_yaml(path: Path) -> Any:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no such file: {path}", fix="check the path to the space/recipe YAML") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path} is not valid UTF-8 (byte {exc.start})", fix="save the space/recipe YAML as UTF-8"
        ) from None
    except OSError as exc:  # a directory, no permission, ...
        raise ConfigError(
            f"cannot read {path}: {exc.strerror or exc}", fix="give a readable space/recipe YAML file"
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}", fix="correct the YAML syntax") from None


RECIPES: Registry[Path] = Registry("recipe")
for _p in sorted(RECIPE_DIR.glob("*.yaml")):
    RECIPES.add(_p.stem, _p)


def list_recipes() -> list[str]:
    return RECIPES.names()


def load_recipe(recipe_id: str, *, smoke: bool = False) -> Recipe:
    """A built-in recipe by id (unknown ids list the close matches)."""
    path = RECIPES.get(recipe_id)
    recipe = parse_recipe(_read_yaml(path), source=str(path))
    return recipe.smoked() if smoke else recipe


def load_space(path: str | Path, *, smoke: bool = False) -> Recipe:
    """A user's space file in the recipe schema; ``base: <recipe id>`` inherits that recipe."""
    path = Path(path)
    data = _read_yaml(path)
    base = None
    if isinstance(data, dict) and data.get("base"):
        base = load_recipe(str(data["base"]))
    recipe = parse_recipe(data, source=str(path), base=base)
    return recipe.smoked() if smoke else recipe
