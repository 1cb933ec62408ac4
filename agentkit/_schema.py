"""Private helpers of :mod:`agentkit._tools`.

Type hints to JSON schema (with a converter from validated JSON back to the
Python type, built once per tool) and turning return values into JSON data.
Docstring parsing lives in :mod:`agentkit._docstrings`.
"""

from __future__ import annotations

import collections.abc as cabc
import dataclasses
import enum
import functools
import inspect
import math
import types
from collections.abc import Callable, Mapping
from typing import (
    Annotated,
    Any,
    Literal,
    NotRequired,
    Required,
    Union,
    get_args,
    get_origin,
    get_type_hints,
    is_typeddict,
)

import attrs
from attrs import define

from agentkit._docstrings import parse_docstring
from agentkit._errors import ToolDefinitionError

__all__ = [
    "Converter",
    "FunctionSchema",
    "NotJSONError",
    "function_schema",
    "json_default",
    "to_jsonable",
    "type_schema",
]

Converter = Callable[[Any], Any]
_NONE = type(None)
_JSON_SCALARS: dict[type, str] = {str: "string", int: "integer", bool: "boolean", _NONE: "null"}
_SEQUENCES = (list, cabc.Sequence, cabc.MutableSequence)
_MAPPINGS = (dict, cabc.Mapping, cabc.MutableMapping)


# --------------------------------------------------------------------------- JSON output


class NotJSONError(Exception):
    """A value (at ``path``) has no JSON form."""

    def __init__(self, path: str, type_name: str) -> None:
        super().__init__(f"{type_name} at {path!r} is not JSON-serialisable")
        self.path = path
        self.type_name = type_name


def to_jsonable(value: Any, path: str = "$") -> Any:
    """Plain JSON data for ``value``: enums become their values, attrs and
    dataclass instances dicts of their fields, tuples lists."""
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value, path)
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NotJSONError(path, f"float {value!r}")
        return float(value)
    if attrs.has(kind):
        return {
            f.alias: to_jsonable(getattr(value, f.name), f"{path}.{f.alias}")
            for f in attrs.fields(kind)
        }
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_jsonable(getattr(value, f.name), f"{path}.{f.name}")
            for f in dataclasses.fields(value)
        }
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for raw, item in value.items():
            key = raw.value if isinstance(raw, enum.Enum) else raw
            if not isinstance(key, str):
                raise NotJSONError(f"{path} key {key!r}", f"{type(key).__name__} key")
            out[str(key)] = to_jsonable(item, f"{path}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [to_jsonable(item, f"{path}[{i}]") for i, item in enumerate(value)]
    raise NotJSONError(path, kind.__qualname__)


# --------------------------------------------------------------------------- type hints


def _type_name(tp: Any) -> str:
    if isinstance(tp, type) and not get_args(tp):
        return tp.__qualname__
    return repr(tp).replace("typing.", "")


def _unsupported(tp: Any, where: str, hint: str) -> ToolDefinitionError:
    return ToolDefinitionError(f"{where} has unsupported type {_type_name(tp)}: {hint}")


def _hint_for(tp: Any) -> str:
    origin = get_origin(tp) or tp
    if origin in (set, frozenset, cabc.Set, cabc.MutableSet):
        return "JSON has no sets; use list[...]"
    if origin in (bytes, bytearray):
        return "JSON has no bytes; use str (base64, for example)"
    if origin is cabc.Callable:
        return "a callable cannot come from JSON"
    return (
        "use str, int, float, bool, list, tuple, dict[str, ...], Literal, an Enum, "
        "a TypedDict, an attrs class, Optional or Any"
    )


def _to_int(value: Any) -> Any:
    # JSON schema accepts 3.0 as an integer; the function should still get 3.
    return value if type(value) is int else int(value)


def _to_float(value: Any) -> Any:
    return value if type(value) is float else float(value)


def _enum_schema(values: list[Any]) -> dict[str, Any]:
    kinds = list(dict.fromkeys(_JSON_SCALARS.get(type(v), "number") for v in values))
    if len(kinds) == 1:
        return {"type": kinds[0], "enum": values}
    return {"enum": values}


def _optional(conv: Converter) -> Converter:
    return lambda v: None if v is None else conv(v)


def _list_of(conv: Converter | None, kind: type) -> Converter:
    if conv is None:
        return kind
    return lambda v: kind([conv(x) for x in v])


def _dict_of(conv: Converter) -> Converter:
    return lambda v: {k: conv(x) for k, x in v.items()}


def _fixed_tuple(convs: tuple[Converter | None, ...]) -> Converter:
    return lambda v: tuple(x if c is None else c(x) for c, x in zip(convs, v, strict=True))


def _keyed(convs: tuple[tuple[str, Converter], ...], make: Callable[..., Any]) -> Converter:
    def convert(value: Any) -> Any:
        out = dict(value)
        for key, conv in convs:
            if key in out:
                out[key] = conv(out[key])
        return make(**out)

    return convert


def json_default(value: Any) -> tuple[bool, Any]:
    """``(True, json)`` when ``value`` has a JSON form, else ``(False, None)``."""
    try:
        return True, to_jsonable(value)
    except NotJSONError:
        return False, None


def type_schema(
    tp: Any, where: str, seen: tuple[type, ...] = ()
) -> tuple[dict[str, Any], Converter | None]:
    """The JSON schema for ``tp`` and a converter from valid JSON to it (None: as is).

    ``where`` names the place for error messages ("function 'f', parameter 'x'").
    """
    origin, args = get_origin(tp), get_args(tp)
    if origin is Annotated:
        schema, conv = type_schema(args[0], where, seen)
        schema = dict(schema)
        described = False
        for meta in tp.__metadata__:
            if isinstance(meta, str):
                if not described:
                    schema["description"] = meta
                    described = True
            elif isinstance(meta, Mapping):
                ok, extra = json_default(dict(meta))
                if not ok:
                    raise ToolDefinitionError(f"{where}: Annotated schema keywords are not JSON")
                schema.update(extra)
            else:
                raise ToolDefinitionError(
                    f"{where}: Annotated metadata must be a str (the description) or a dict "
                    f"of JSON-schema keywords, got {type(meta).__name__}"
                )
        return schema, conv
    if origin in (Required, NotRequired):
        return type_schema(args[0], where, seen)
    if tp is Any:
        return {}, None
    if tp is str:
        return {"type": "string"}, None
    if tp is bool:
        return {"type": "boolean"}, None
    if tp is int:
        return {"type": "integer"}, _to_int
    if tp is float:
        return {"type": "number"}, _to_float
    if tp is None or tp is _NONE:
        return {"type": "null"}, None
    if origin is Union or origin is types.UnionType:
        return _union_schema(tp, args, where, seen)
    if origin is Literal:
        for value in args:
            if type(value) not in _JSON_SCALARS:
                raise _unsupported(tp, where, "Literal values must be str, int, bool or None")
        return _enum_schema(list(args)), None
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        values = [member.value for member in tp]
        if not values or any(type(v) not in (*_JSON_SCALARS, float) for v in values):
            raise _unsupported(tp, where, "Enum values must be str, int, float, bool or None")
        return _enum_schema(values), tp
    if tp in _SEQUENCES or origin in _SEQUENCES:
        if not args:
            return {"type": "array"}, None
        item, conv = type_schema(args[0], where, seen)
        return {"type": "array", "items": item}, None if conv is None else _list_of(conv, list)
    if tp is tuple or origin is tuple:
        return _tuple_schema(tp, args, where, seen)
    if tp in _MAPPINGS or origin in _MAPPINGS:
        if not args:
            return {"type": "object"}, None
        if args[0] is not str:
            raise _unsupported(tp, where, "JSON object keys are strings; use dict[str, ...]")
        value, conv = type_schema(args[1], where, seen)
        schema = {"type": "object", "additionalProperties": value}
        return schema, None if conv is None else _dict_of(conv)
    if is_typeddict(tp) or (isinstance(tp, type) and attrs.has(tp)):
        return _object_schema(tp, where, seen)
    raise _unsupported(tp, where, _hint_for(tp))


def _union_schema(
    tp: Any, args: tuple[Any, ...], where: str, seen: tuple[type, ...]
) -> tuple[dict[str, Any], Converter | None]:
    members = [a for a in args if a is not _NONE]
    nullable = len(members) < len(args)
    if len(members) == 1:
        schema, conv = type_schema(members[0], where, seen)
        if not nullable:  # pragma: no cover - typing collapses one-member unions
            return schema, conv
        return {"anyOf": [schema, {"type": "null"}]}, None if conv is None else _optional(conv)
    schemas = []
    for member in members:
        schema, conv = type_schema(member, where, seen)
        # A JSON value could match several members: only plain JSON types are unambiguous.
        if conv is not None and member not in (int, float):
            raise _unsupported(
                tp, where, f"a union may only combine plain JSON types, not {_type_name(member)}"
            )
        schemas.append(schema)
    if nullable:
        schemas.append({"type": "null"})
    return {"anyOf": schemas}, None


def _tuple_schema(
    tp: Any, args: tuple[Any, ...], where: str, seen: tuple[type, ...]
) -> tuple[dict[str, Any], Converter | None]:
    if not args:
        return {"type": "array"}, tuple
    if len(args) == 2 and args[1] is Ellipsis:
        item, conv = type_schema(args[0], where, seen)
        return {"type": "array", "items": item}, _list_of(conv, tuple)
    parts = [type_schema(a, where, seen) for a in args]
    schema = {
        "type": "array",
        "prefixItems": [s for s, _ in parts],
        "items": False,
        "minItems": len(parts),
    }
    return schema, _fixed_tuple(tuple(c for _, c in parts))


def _object_schema(
    tp: type, where: str, seen: tuple[type, ...]
) -> tuple[dict[str, Any], Converter | None]:
    if tp in seen:
        raise _unsupported(tp, where, "recursive types are not supported")
    try:
        hints = get_type_hints(tp, include_extras=True)
    except Exception as exc:
        raise ToolDefinitionError(
            f"{where}: cannot resolve the annotations of {tp.__qualname__}: {exc}"
        ) from exc
    # (property name, type, required, has default, default)
    fields: list[tuple[str, Any, bool, bool, Any]] = []
    if is_typeddict(tp):
        required_keys: frozenset[str] = getattr(tp, "__required_keys__", frozenset())
        # Under ``from __future__ import annotations`` Python 3.11 cannot see
        # (Not)Required in ``__required_keys__``; the resolved hints still show them.
        fields = [
            (
                k,
                h,
                get_origin(h) is Required
                or (k in required_keys and get_origin(h) is not NotRequired),
                False,
                None,
            )
            for k, h in hints.items()
        ]
        make: Callable[..., Any] = dict
    else:
        for f in attrs.fields(tp):
            if not f.init:
                continue
            hint = hints.get(f.name, f.type)
            if hint is None:
                raise ToolDefinitionError(
                    f"{where}: field {f.name!r} of {tp.__qualname__} has no type"
                )
            missing = f.default is attrs.NOTHING
            plain = not missing and not isinstance(f.default, attrs.Factory)  # type: ignore[arg-type]
            fields.append((f.alias, hint, missing, plain, f.default))
        make = tp
    properties: dict[str, Any] = {}
    required: list[str] = []
    convs: list[tuple[str, Converter]] = []
    for key, hint, is_required, has_default, default in fields:
        schema, conv = type_schema(
            hint, f"{where}, field {key!r} of {tp.__qualname__}", (*seen, tp)
        )
        if has_default:
            ok, value = json_default(default)
            if ok:
                schema = {**schema, "default": value}
        properties[key] = schema
        if is_required:
            required.append(key)
        if conv is not None:
            convs.append((key, conv))
    out: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        out["required"] = required
    out["additionalProperties"] = False
    if make is dict and not convs:
        return out, None
    return out, _keyed(tuple(convs), make)


# --------------------------------------------------------------------------- functions


@define(frozen=True, slots=True)
class FunctionSchema:
    """What a function's signature and docstring say about it as a tool."""

    description: str
    parameters: dict[str, Any]
    converters: tuple[tuple[str, Converter], ...]
    context_param: str | None
    is_method: bool


def function_schema(fn: Callable[..., Any], label: str, context_type: type) -> FunctionSchema:
    """Read ``fn``'s signature and docstring; ``label`` names it in errors."""
    try:
        signature = inspect.signature(fn, eval_str=True)
    except Exception as exc:
        raise ToolDefinitionError(f"{label}: cannot read its signature: {exc}") from exc
    target = fn.func if isinstance(fn, functools.partial) else fn
    try:
        description, docs = parse_docstring(getattr(target, "__doc__", None))
    except ValueError as exc:
        raise ToolDefinitionError(f"{label}: docstring: {exc}") from exc
    params = list(signature.parameters.values())
    is_method = bool(params) and params[0].name == "self"
    for name in docs:
        if name not in signature.parameters:
            known = ", ".join(signature.parameters) or "none"
            raise ToolDefinitionError(
                f"{label}: the docstring documents parameter {name!r}, which the function "
                f"does not have (parameters: {known})"
            )
    properties: dict[str, Any] = {}
    required: list[str] = []
    converters: list[tuple[str, Converter]] = []
    context_param: str | None = None
    for param in params[1:] if is_method else params:
        where = f"{label}, parameter {param.name!r}"
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise ToolDefinitionError(
                f"{where}: *args, **kwargs and positional-only parameters are not supported"
            )
        if param.annotation is param.empty:
            raise ToolDefinitionError(f"{where} has no type annotation")
        if param.annotation is context_type:
            if context_param is not None:
                raise ToolDefinitionError(f"{where}: only one parameter may take the ToolContext")
            context_param = param.name
            continue
        schema, conv = type_schema(param.annotation, where)
        schema = dict(schema)
        if "description" not in schema and docs.get(param.name):
            schema["description"] = docs[param.name]
        if param.default is param.empty:
            required.append(param.name)
        else:
            ok, value = json_default(param.default)
            if ok:
                schema["default"] = value
        properties[param.name] = schema
        if conv is not None:
            converters.append((param.name, conv))
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        parameters["required"] = required
    parameters["additionalProperties"] = False
    return FunctionSchema(description, parameters, tuple(converters), context_param, is_method)
