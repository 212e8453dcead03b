"""Typed payloads: dataclasses and pydantic models (when pydantic is installed) to JSON for
publishing, and decoded event data back into them. The content-type rule itself is core's."""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any, Type, TypeVar

T = TypeVar("T")


def _json_default(value: Any) -> Any:
    """What ``json.dumps`` cannot encode by itself: a dataclass as the object of its fields, a
    pydantic model as its JSON dump; anything else is a TypeError naming the type."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    model_dump = getattr(value, "model_dump", None)  # pydantic v2
    if callable(model_dump) and not isinstance(value, type):
        return model_dump(mode="json")
    raise TypeError(
        f"cannot publish a {type(value).__name__}: data must be bytes, str, a JSON value "
        "(dict, list, number, bool, None), a dataclass or a pydantic model"
    )


dumps = functools.partial(json.dumps, default=_json_default)
"""The JSON text a published value becomes when it is neither str nor bytes (used by the native
client)."""


def load_model(cls: Type[T], value: Any) -> T:
    """``value`` (decoded event data) as an instance of ``cls``: a pydantic model validates it, a
    dataclass takes a JSON object's members as its fields, any other class is called with it."""
    validate = getattr(cls, "model_validate", None)  # pydantic v2
    if callable(validate):
        return validate(value)  # type: ignore[no-any-return]
    if dataclasses.is_dataclass(cls):
        if not isinstance(value, dict):
            raise TypeError(f"{cls.__name__} needs a JSON object as event data, not {type(value).__name__}")
        names = {f.name for f in dataclasses.fields(cls) if f.init}
        unknown = sorted(set(value) - names)
        if unknown:
            raise TypeError(f"{cls.__name__} has no field(s) {', '.join(unknown)} found in the event data")
        return cls(**value)
    return cls(value)  # type: ignore[call-arg]
