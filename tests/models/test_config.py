"""Typed configs: unknown keys and bad values are one-line errors naming the key path."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from caloforge.exceptions import ConfigError
from caloforge.models.config import from_dict, load_config_file, merge, to_dict


@dataclass(frozen=True)
class Inner:
    width: int = 3
    mode: Literal["a", "b"] = "a"


@dataclass(frozen=True)
class Outer:
    lr: float = 1e-3
    sizes: tuple[int, ...] = (1, 2)
    pair: tuple[float, float] = (0.5, 0.9)
    clip: float | None = None
    inner: Inner = field(default_factory=Inner)
    flag: bool = False

    def checks(self):  # type: ignore[no-untyped-def]
        if self.lr <= 0:
            yield "lr", f"must be > 0, got {self.lr}"


def test_round_trip_and_defaults() -> None:
    cfg = from_dict(Outer, {"lr": "2e-4", "sizes": [4, 5, 6], "inner": {"mode": "b"}, "clip": 1})
    assert cfg == Outer(lr=2e-4, sizes=(4, 5, 6), inner=Inner(mode="b"), clip=1.0)
    assert from_dict(Outer, to_dict(cfg)) == cfg
    assert from_dict(Outer, None) == Outer()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"lrr": 1}, r"^run\.yaml: lrr: unknown key; known: clip, flag, inner, lr, pair, sizes$"),
        ({"inner": {"widht": 2}}, r"^run\.yaml: inner\.widht: unknown key"),
        ({"inner": {"mode": "c"}}, r"inner\.mode: must be one of 'a', 'b', got 'c'"),
        ({"sizes": [1, "x"]}, r"sizes\[1\]: must be an integer, got 'x'"),
        ({"pair": [1.0]}, r"pair: must have 2 entries, got 1"),
        ({"flag": "yes"}, r"flag: must be true or false"),
        ({"lr": -1}, r"lr: must be > 0, got -1"),
        ({"lr": float("nan")}, r"lr: must be finite"),
        ({"inner": 3}, r"inner: must be a mapping"),
    ],
)
def test_errors_name_the_key(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        from_dict(Outer, data, source="run.yaml")


def test_merge_is_recursive() -> None:
    assert merge({"a": {"b": 1, "c": 2}, "d": 1}, {"a": {"c": 3}, "e": 4}) == {"a": {"b": 1, "c": 3}, "d": 1, "e": 4}


def test_load_config_file(tmp_path: Path) -> None:
    (tmp_path / "ok.yaml").write_text("lr: 1.0e-4\ninner:\n  width: 2\n")
    assert load_config_file(tmp_path / "ok.yaml") == {"lr": 1e-4, "inner": {"width": 2}}
    (tmp_path / "bad.yaml").write_text("lr: [1\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        load_config_file(tmp_path / "bad.yaml")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config_file(tmp_path / "list.json")
    with pytest.raises(ConfigError, match="does not exist"):
        load_config_file(tmp_path / "missing.yaml")
