"""Typed, validated configurations: frozen dataclasses built from plain dicts (STYLE.md #4).

Every model family and the training loop describe their options as dataclasses with defaults. A plain dict
(from JSON, YAML or a checkpoint) is turned into one with :func:`from_dict`, which rejects unknown keys and
values of the wrong type with a :class:`~caloforge.exceptions.ConfigError` naming the key path, e.g.
``run.yaml: trainer.lr_d: must be > 0, got -1``. A dataclass may add value checks by defining ``checks()``,
yielding ``(field, problem)`` pairs. :func:`to_dict` gives the plain dict back (saved in every checkpoint).

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Opt:
...     lr: float = 1e-3
...     betas: tuple[float, float] = (0.9, 0.999)
>>> from_dict(Opt, {"lr": 2e-4})
Opt(lr=0.0002, betas=(0.9, 0.999))
>>> from_dict(Opt, {"lr_g": 1})
Traceback (most recent call last):
...
caloforge.exceptions.ConfigError: lr_g: unknown key; known: betas, lr
"""

from __future__ import annotations

import dataclasses
import math
import types
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from caloforge.exceptions import ConfigError

__all__ = ["from_dict", "iter_checks", "load_config_file", "merge", "to_dict"]

T = TypeVar("T")


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _fail(source: str, path: str, message: str) -> ConfigError:
    where = f"{source}: " if source else ""
    return ConfigError(f"{where}{path or '<top>'}: {message}")


def _convert(tp: Any, value: Any, path: str, source: str) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        options = get_args(tp)
        if value is None:
            if type(None) in options:
                return None
            raise _fail(source, path, "must not be null")
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(option, value, path, source)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0]) if errors else _fail(source, path, f"invalid value {value!r}")
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            raise _fail(source, path, f"must be one of {', '.join(repr(a) for a in allowed)}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return from_dict(tp, value, source=source, path=path)
    if tp is bool:
        if not isinstance(value, bool):
            raise _fail(source, path, f"must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise _fail(source, path, f"must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            if isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string
                try:
                    value = float(value)
                except ValueError:
                    raise _fail(source, path, f"must be a number, got {value!r}") from None
            else:
                raise _fail(source, path, f"must be a number, got {value!r}")
        if not math.isfinite(value):
            raise _fail(source, path, f"must be finite, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _fail(source, path, f"must be a string, got {value!r}")
        return value
    if origin is tuple:
        args = get_args(tp)
        if isinstance(value, str | bytes | Mapping) or not isinstance(value, list | tuple):
            raise _fail(source, path, f"must be a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, _join(path, i), source) for i, v in enumerate(value))
        if len(value) != len(args):
            raise _fail(source, path, f"must have {len(args)} entries, got {len(value)}")
        return tuple(_convert(a, v, _join(path, i), source) for i, (a, v) in enumerate(zip(args, value, strict=True)))
    if origin is dict:
        if not isinstance(value, Mapping):
            raise _fail(source, path, f"must be a mapping, got {value!r}")
        key_t, value_t = get_args(tp) or (str, Any)
        return {
            _convert(key_t, k, path, source): _convert(value_t, v, _join(path, str(k)), source)
            for k, v in value.items()
        }
    raise TypeError(f"unsupported config field type {tp!r} at {path}")  # a programming error, not user input


def from_dict(cls: type[T], data: Any, *, source: str = "", path: str = "") -> T:
    """Build the dataclass ``cls`` from a plain mapping, validating keys, types and values.

    Args:
        cls: a dataclass whose fields carry type hints (int, float, bool, str, Literal, tuples, dicts,
            optional values, nested dataclasses).
        data: the mapping (``None`` means all defaults).
        source: the file the data came from, named in error messages.
        path: key path of ``data`` inside a larger configuration (error messages).

    Raises:
        ConfigError: an unknown key, a missing required key, a value of the wrong type, or a failed check.
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise _fail(source, path, f"must be a mapping, got {type(data).__name__}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in data:
        if key not in fields:
            raise _fail(source, _join(path, str(key)), f"unknown key; known: {', '.join(sorted(fields))}")
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], _join(path, name), source)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise _fail(source, _join(path, name), "is required")
    obj = cls(**kwargs)
    checks = getattr(obj, "checks", None)
    if checks is not None:
        for key, problem in checks():
            raise _fail(source, _join(path, key), problem)
    return obj


def to_dict(obj: Any) -> Any:
    """A dataclass (recursively) as plain JSON-serialisable values; tuples become lists."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple | list):
        return [to_dict(v) for v in obj]
    if isinstance(obj, Mapping):
        return {str(k): to_dict(v) for k, v in obj.items()}
    return obj


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated recursively by ``override`` (nested mappings merge, everything else replaces)."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON configuration file into a plain dict.

    Raises:
        ConfigError: the file is missing, not parseable, or not a mapping.
    """
    import json

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} does not exist")
    text = p.read_text()
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except (json.JSONDecodeError, ValueError) as exc:
        raise ConfigError(f"{p}: not valid JSON ({exc})") from None
    except Exception as exc:  # yaml.YAMLError and friends
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{p}: not valid YAML ({reason})") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{p}: the top level must be a mapping of keys to values")
    return dict(data)


def iter_checks(*problems: tuple[bool, str, str]) -> Iterator[tuple[str, str]]:
    """Helper for ``checks()``: yield ``(field, message)`` for every ``(failed, field, message)``."""
    for failed, key, message in problems:
        if failed:
            yield key, message
