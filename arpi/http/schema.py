"""Declarative checks for request bodies and query parameters, and their JSON Schema.

One `Field` tree both validates a request (raising `ApiError(400)` that names the
field) and describes it in the OpenAPI document, so the two cannot drift apart.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from arpi.http.errors import ApiError

__all__ = ["INT32", "Arr", "Field", "Obj", "json_schema", "parse_query", "validate"]

INT32 = 2_147_483_647
_MISSING = object()
# Lone UTF-16 surrogates: JSON may escape them (`"\ud800"`), but no UTF-8 text,
# and so neither PostgreSQL nor a response, can hold them.
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Field:
    """One value: `type` is integer, number, boolean, string, digits, object, array.

    `digits` is an access code: a string of digits, or a non-negative integer (the
    UI's biometric login sends a number). Objects list `properties`; `extra` says
    what happens to keys not listed: "ignore" (the UI sends whole entities) or
    "reject" (configuration values, DECISIONS F2). `index_of` names a front setting
    (e.g. "input_number") that the value must stay below: the route checks it, and
    the document shows `maximum` = that setting - 1 when given the settings.
    """

    type: str
    required: bool = False
    nullable: bool = False
    minimum: int | float | None = None
    maximum: int | float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    enum: tuple[Any, ...] | None = None
    properties: Mapping[str, Field] | None = None
    items: Field | None = None
    max_items: int | None = None
    extra: str = "ignore"
    default: Any = _MISSING
    description: str = ""
    index_of: str | None = None
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.pattern is not None:
            object.__setattr__(self, "_regex", re.compile(self.pattern))


def Obj(properties: Mapping[str, Field], *, extra: str = "ignore", **kw: Any) -> Field:
    return Field("object", properties=dict(properties), extra=extra, **kw)


def Arr(items: Field, **kw: Any) -> Field:
    return Field("array", items=items, **kw)


def _fail(where: str, problem: str) -> ApiError:
    return ApiError(400, f"{where}: {problem}" if where else problem)


def validate(spec: Field, value: Any, where: str = "") -> Any:
    """Return `value` checked against `spec` (objects: only the listed keys).

    Raises ApiError(400) naming the field and the problem. Runs anywhere; pure.
    """
    if value is None:
        if spec.nullable:
            return None
        raise _fail(where, "must not be null")
    kind = spec.type
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(where, "must be an integer")
        _check_range(spec, value, where)
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(where, "must be a number")
        if not math.isfinite(value):
            raise _fail(where, "must be a finite number")
        _check_range(spec, value, where)
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise _fail(where, "must be true or false")
    elif kind == "string":
        if not isinstance(value, str):
            raise _fail(where, "must be a string")
        _check_string(spec, value, where)
    elif kind == "digits":
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            value = str(value)
        if not isinstance(value, str) or not value.isascii() or not value.isdigit():
            raise _fail(where, "must be a string of digits")
        _check_string(spec, value, where)
    elif kind == "scalar":
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise _fail(where, "must be a string or a number")
        if isinstance(value, str):
            _check_string(spec, value, where)
    elif kind == "object":
        return _validate_object(spec, value, where)
    elif kind == "array":
        if not isinstance(value, list):
            raise _fail(where, "must be a list")
        if spec.max_items is not None and len(value) > spec.max_items:
            raise _fail(where, f"at most {spec.max_items} items")
        assert spec.items is not None
        return [
            validate(spec.items, item, f"{where}[{i}]") for i, item in enumerate(value)
        ]
    else:  # pragma: no cover - a programming error in a route table
        raise AssertionError(f"unknown field type {kind}")
    if spec.enum is not None and value not in spec.enum:
        allowed = ", ".join(str(v) for v in spec.enum)
        raise _fail(where, f"must be one of {allowed}")
    return value


def _check_range(spec: Field, value: float, where: str) -> None:
    if spec.minimum is not None and value < spec.minimum:
        raise _fail(where, f"must be >= {spec.minimum}")
    if spec.maximum is not None and value > spec.maximum:
        raise _fail(where, f"must be <= {spec.maximum}")


def _check_string(spec: Field, value: str, where: str) -> None:
    if spec.min_length is not None and len(value) < spec.min_length:
        raise _fail(where, f"must be at least {spec.min_length} characters")
    if spec.max_length is not None and len(value) > spec.max_length:
        raise _fail(where, f"must be at most {spec.max_length} characters")
    if "\x00" in value:
        raise _fail(where, "must not contain NUL characters")
    if _SURROGATE.search(value):
        raise _fail(where, "must not contain unpaired surrogate characters")
    if spec._regex is not None and not spec._regex.fullmatch(value):
        raise _fail(where, "has the wrong format")


def _printable(text: str) -> str:
    """`text` safe to echo in a UTF-8 response (lone surrogates as `\\udxxx`)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _validate_object(spec: Field, value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(where or "body", "must be a JSON object")
    props = spec.properties or {}
    if spec.extra == "reject":
        unknown = sorted(k for k in value if k not in props)
        if unknown:
            key = _printable(unknown[0])
            name = f"{where}.{key}" if where else key
            raise ApiError(400, f"{name}: unknown key")
    out: dict[str, Any] = {}
    for name, sub in props.items():
        path = f"{where}.{name}" if where else name
        if name in value:
            out[name] = validate(sub, value[name], path)
        elif sub.required:
            raise ApiError(400, f"{path}: required")
        elif sub.default is not _MISSING:
            out[name] = sub.default
    return out


def parse_query(specs: Mapping[str, Field], query: Mapping[str, str]) -> dict[str, Any]:
    """Convert and check query parameters (strings) by `specs`; others are ignored.

    Raises ApiError(400) naming the parameter.
    """
    out: dict[str, Any] = {}
    for name, spec in specs.items():
        raw = query.get(name)
        if raw is None:
            if spec.required:
                raise ApiError(400, f"{name}: required query parameter")
            if spec.default is not _MISSING:
                out[name] = spec.default
            continue
        value: Any = raw
        if spec.type == "integer":
            if not re.fullmatch(r"-?[0-9]{1,12}", raw):
                raise ApiError(400, f"{name}: must be an integer")
            value = int(raw)
        elif spec.type == "boolean":
            low = raw.lower()
            if low not in ("true", "false", "1", "0"):
                raise ApiError(400, f"{name}: must be true or false")
            value = low in ("true", "1")
        out[name] = validate(spec, value, name)
    return out


def json_schema(spec: Field, settings: Any = None) -> dict[str, Any]:
    """The OpenAPI 3.0 schema object of `spec`; `settings` (the `FrontSettings`)
    gives the maxima of `index_of` fields."""
    kind = spec.type
    schema: dict[str, Any]
    if kind == "digits":
        text: dict[str, Any] = {"type": "string", "pattern": "^[0-9]+$"}
        if spec.min_length is not None:
            text["minLength"] = spec.min_length
        if spec.max_length is not None:
            text["maxLength"] = spec.max_length
        schema = {"anyOf": [text, {"type": "integer", "minimum": 0}]}
    elif kind == "scalar":
        text = {"type": "string"}
        if spec.max_length is not None:
            text["maxLength"] = spec.max_length
        schema = {"anyOf": [text, {"type": "number"}]}
    else:
        schema = {"type": kind}
    if spec.nullable:
        schema["nullable"] = True
    if spec.description:
        schema["description"] = spec.description
    if spec.minimum is not None:
        schema["minimum"] = spec.minimum
    if spec.maximum is not None:
        schema["maximum"] = spec.maximum
    if spec.index_of is not None and settings is not None:
        schema["maximum"] = int(getattr(settings, spec.index_of)) - 1
    if kind == "string":
        if spec.min_length is not None:
            schema["minLength"] = spec.min_length
        if spec.max_length is not None:
            schema["maxLength"] = spec.max_length
        if spec.pattern is not None:
            schema["pattern"] = f"^(?:{spec.pattern})$"
    if spec.enum is not None:
        schema["enum"] = list(spec.enum)
    if kind == "object":
        props = spec.properties or {}
        schema["properties"] = {k: json_schema(v, settings) for k, v in props.items()}
        required = [k for k, v in props.items() if v.required]
        if required:
            schema["required"] = required
        schema["additionalProperties"] = spec.extra != "reject"
    if kind == "array" and spec.items is not None:
        schema["items"] = json_schema(spec.items, settings)
        if spec.max_items is not None:
            schema["maxItems"] = spec.max_items
    return schema
