"""Named parameters of registry entries (``--param KEY=VALUE``), torch-free."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from gradcli.errors import InputError
from gradcli.parsing import parse_key_values, parse_number

ParamValues = dict[str, float | str]


@dataclass(frozen=True)
class Param:
    """One parameter: its name, torch's default, and the strings it accepts."""

    name: str
    default: float | str
    choices: tuple[str, ...] = ()
    check: Callable[[float], bool] | None = None
    requirement: str = ""  # says what ``check`` demands, e.g. "> 0"

    def parse(self, raw: str, owner: str) -> float | str:
        """Convert the text after ``KEY=`` to this parameter's type."""
        if self.choices:
            if raw not in self.choices:
                raise InputError(
                    f"parameter {self.name}={raw!s} for {owner} must be one of: "
                    + ", ".join(self.choices)
                )
            return raw
        try:
            value = parse_number(raw)
        except InputError:
            raise InputError(
                f"parameter {self.name} for {owner} expects a number, got '{raw}'"
            ) from None
        if self.check is not None and not self.check(value):
            raise InputError(f"parameter {self.name}={raw} for {owner} must be {self.requirement}")
        return value

    def describe(self) -> str:
        """``name=default`` with the choices, for listings and help."""
        text = f"{self.name}={_show(self.default)}"
        return f"{text} ({'|'.join(self.choices)})" if self.choices else text


def resolve(params: Sequence[Param], items: Sequence[str], owner: str) -> ParamValues:
    """Defaults overridden by the user's ``KEY=VALUE`` items, each parsed and checked."""
    by_name = {param.name: param for param in params}
    given = parse_key_values(items, by_name, owner)
    values: ParamValues = {param.name: param.default for param in params}
    for key, raw in given.items():
        values[key] = by_name[key].parse(raw, owner)
    return values


def describe_all(params: Sequence[Param]) -> str:
    """All parameters with defaults, or an em dash when there are none."""
    return ", ".join(param.describe() for param in params) or "—"


def show_values(values: Mapping[str, float | str]) -> str:
    """``a=1, b=tanh`` for captions."""
    return ", ".join(f"{key}={_show(value)}" for key, value in values.items())


def _show(value: float | str) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
