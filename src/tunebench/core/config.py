"""One configuration system for the package: typed dataclasses, read from YAML here, overridden by dotted path.

Recipes, model configs, bench profiles and strategies settings are dataclasses that carry `STRICT`. Every
change to one (a YAML file, `--set a.b=c`, a profile's own settings) is merged into its dict form and the
result validated by pydantic, so a wrong type or an unknown key is a one-line error naming the field.
Items of a list that have a `name` (a recipe's stages) are addressed by that name: `stage2.optim.lr`.
"""

from __future__ import annotations

import copy
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError

from tunebench.core.errors import UserError

STRICT = ConfigDict(extra="forbid")  # set as `__pydantic_config__` on every config dataclass
Positive = Annotated[int, Field(ge=1)]  # range-checked field types, so a bad value fails at validation
Count = Annotated[int, Field(ge=0)]
NonNegative = Annotated[float, Field(ge=0)]
T = TypeVar("T")
_UNKNOWN = {"extra_forbidden", "unexpected_keyword_argument"}


def read_yaml(path: Path | str) -> dict[str, Any]:
    """A YAML mapping from a file; a missing file, bad YAML or a non-mapping is a one-line error."""
    import yaml

    try:
        loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise UserError("config file not found", where=str(path)) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read config file: {exc}", where=str(path)) from exc
    except yaml.YAMLError as exc:
        raise UserError(f"invalid YAML: {str(exc).splitlines()[0]}", where=str(path)) from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise UserError("config must be a mapping of field names to values", where=str(path))
    return loaded


def parse_sets(items: list[str]) -> dict[str, str]:
    """`--set a.b=c` pairs -> {"a.b": "c"}."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set expects KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def build(kind: type[T], data: dict[str, Any], where: str = "") -> T:
    """A `kind` from its dict form, validated: types coerced (CLI strings included), unknown keys refused."""
    try:
        return TypeAdapter(kind).validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = where + _field_path(data, first["loc"])
        if first["type"] in _UNKNOWN:
            raise UserError("unknown config field", where=field) from exc
        raise UserError(f"cannot read {first['input']!r}: {first['msg']}", where=field) from exc


def _field_path(data: Any, loc: tuple) -> str:
    """pydantic's error location as a dotted path, with named list items (stages, arms) by their name."""
    parts, node = [], data
    for key in loc:
        named = isinstance(key, int) and isinstance(node, list) and key < len(node) and isinstance(node[key], dict)
        parts.append(str(node[key].get("name", key)) if named else str(key))
        node = node[key] if named or (isinstance(node, dict) and key in node) else None
    return ".".join(parts)


def override(obj: T, changes: dict[str, Any], where: str = "") -> T:
    """A copy of the config `obj` with `changes` (nested dicts or dotted keys) applied and validated."""
    return build(type(obj), merge(asdict(obj), changes, where), where)


def merge(base: dict[str, Any], changes: dict[str, Any], where: str = "") -> dict[str, Any]:
    """`changes` merged deeply into a copy of `base`; named list items merge by name."""
    out = copy.deepcopy(base)
    for key, value in _nest(changes).items():
        path = f"{where}{key}"
        named = _named_list_holding(out, key)
        if named is not None:  # `stage2: {...}` at the recipe's top level means the stage named so
            out[named] = _merge_named(out[named], {key: value}, where)
        elif isinstance(out.get(key), list) and is_named_list(out[key]) and isinstance(value, dict):
            out[key] = _merge_named(out[key], value, f"{path}.")
        elif isinstance(out.get(key), dict) and isinstance(value, dict):
            out[key] = merge(out[key], value, f"{path}.")
        else:
            out[key] = _from_text(value, out.get(key))
    return out


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    """Dotted keys -> nested dicts, merged deeply (`a.b.x` and `a.b.y` both survive)."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        head, _, rest = key.partition(".")
        part = _nest({rest: value}) if rest else value
        both_dicts = isinstance(nested.get(head), dict) and isinstance(part, dict)
        nested[head] = merge(nested[head], part) if both_dicts else part
    return nested


def is_named_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) and "name" in v for v in value)


def _named_list_holding(node: dict[str, Any], name: str) -> str | None:
    """The key of the list in `node` that has an item called `name` (when `name` is not a field itself)."""
    if name in node:
        return None
    return next((k for k, v in node.items() if is_named_list(v) and any(i["name"] == name for i in v)), None)


def _merge_named(items: list[dict[str, Any]], changes: dict[str, Any], where: str) -> list[dict[str, Any]]:
    out = copy.deepcopy(items)
    names = [item["name"] for item in out]
    for name, value in changes.items():
        if name not in names or not isinstance(value, dict):
            raise UserError(f"no item named '{name}' (there are: {', '.join(names)})", where=f"{where}{name}")
        index = names.index(name)
        out[index] = merge(out[index], value, f"{where}{name}.")
    return out


def _from_text(value: Any, current: Any) -> Any:
    """What a CLI string means where pydantic would not read it: a comma list, or none/null for no value."""
    if not isinstance(value, str):
        return value
    if isinstance(current, list):  # `--set stage2.train=connector,llm`
        return [item.strip() for item in value.split(",") if item.strip()]
    return None if value.strip().lower() in {"none", "null"} else value  # `--set qformer.init_from=none`
