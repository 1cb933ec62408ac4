"""Python types as JSON: schemas, checked conversion from JSON, and JSON from values.

Used by :mod:`agentkit._tools` (parameters, return values) and by structured
output. Docstring parsing lives in :mod:`agentkit._docstrings`.

The entry point for a whole value of a type is :func:`type_adapter`::

    adapter = type_adapter(Invoice | Refund, "output_type of MyAgent")
    adapter.schema                    # dict: a self-contained Draft 2020-12 schema, no $ref
    value = adapter.validate_json_value(data)   # Invoice | Refund, or TypeValidationError
    data = adapter.dump(value)        # plain JSON data, or TypeValidationError

:func:`type_adapter` raises :class:`~agentkit._errors.ToolDefinitionError` for
a type it cannot represent (the message names ``where`` and the type).
:class:`TypeValidationError` carries ``problems``, ``(path, reason)`` pairs
with JSONPath-like paths (``$.items[0].when``, as :mod:`jsonschema` spells
them), and its message joins them in a form fit to show a model.

Supported types: ``str``, ``int``, ``float``, ``bool``, ``None``, ``Any``,
lists, tuples, ``dict[str, X]``, ``Literal``, ``Enum``, ``Optional`` and
unions, TypedDicts, attrs classes, dataclasses, pydantic (v2) models when
pydantic is installed (never imported here), ``datetime``, ``date``,
``time``, ``UUID``, ``Decimal``, ``pathlib`` paths, ``NewType`` and
``type X = ...`` aliases, ``Annotated`` (a str is the description, a dict
extra schema keywords).

A union of members that need conversion (objects, dates, ...) is resolved
against each member: by a ``Literal`` field whose values differ between
members (a discriminator), else by validating the JSON against every
member's schema and converting; exactly one member must accept the value,
otherwise validation fails naming the members that matched.

``datetime`` values are RFC 3339 / ISO 8601 strings. A string with an
offset (``Z`` or ``+02:00``) gives an aware datetime with that fixed offset,
one without gives a naive datetime; dumping writes ``isoformat()``, so
naive stays naive and aware keeps its offset.
"""

from __future__ import annotations

import collections.abc as cabc
import dataclasses
import datetime as dt
import decimal
import enum
import functools
import inspect
import json
import math
import pathlib
import sys
import types
import uuid
from collections.abc import Callable, Mapping
from typing import (
    Annotated,
    Any,
    Generic,
    Literal,
    Never,
    NoReturn,
    NotRequired,
    Required,
    TypeVar,
    Union,
    get_args,
    get_origin,
    get_type_hints,
    is_typeddict,
    overload,
)

import attrs
from attrs import define
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError, best_match

from agentkit._docstrings import parse_docstring
from agentkit._errors import AgentkitError, ToolDefinitionError

__all__ = [
    "Converter",
    "FunctionSchema",
    "NotJSONError",
    "TypeAdapter",
    "TypeValidationError",
    "check_return_type",
    "checked_validator",
    "convert_arguments",
    "convert_fields",
    "function_schema",
    "json_path",
    "schema_problems",
    "json_default",
    "to_jsonable",
    "type_adapter",
    "type_schema",
]

T = TypeVar("T")
Converter = Callable[[Any], Any]
PathPart = str | int
_NONE = type(None)
_JSON_SCALARS: dict[type, str] = {str: "string", int: "integer", bool: "boolean", _NONE: "null"}
_SEQUENCES = (list, cabc.Sequence, cabc.MutableSequence)
_MAPPINGS = (dict, cabc.Mapping, cabc.MutableMapping)
_MAX_PROBLEM = 300  # characters per problem: the reader needs the gist, not the whole value
_DECIMAL_PATTERN = r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$"


# --------------------------------------------------------------------------- errors


def json_path(parts: tuple[PathPart, ...]) -> str:
    """``$`` and the parts, as :attr:`jsonschema.ValidationError.json_path` spells them."""
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_PROBLEM else text[: _MAX_PROBLEM - 1] + "…"


class TypeValidationError(AgentkitError, ValueError):
    """JSON data does not fit a type; ``problems`` are ``(path, reason)`` pairs."""

    def __init__(self, problems: tuple[tuple[str, str], ...]) -> None:
        super().__init__("; ".join(f"at '{path}': {reason}" for path, reason in problems))
        self.problems = problems


class _Invalid(Exception):
    """Raised by converters: problems as (path parts, reason), innermost path last."""

    def __init__(self, problems: tuple[tuple[tuple[PathPart, ...], str], ...]) -> None:
        super().__init__(problems)
        self.problems = problems

    @classmethod
    def at(cls, reason: str) -> _Invalid:
        return cls((((), reason),))

    def under(self, part: PathPart) -> _Invalid:
        return _Invalid(tuple(((part, *p), r) for p, r in self.problems))

    def rendered(self, prefix: tuple[PathPart, ...] = ()) -> tuple[tuple[str, str], ...]:
        return tuple((json_path((*prefix, *p)), _shorten(r)) for p, r in self.problems)


def _error_problems(error: ValidationError) -> list[tuple[tuple[PathPart, ...], str]]:
    here = tuple(error.absolute_path)
    if error.validator not in ("anyOf", "oneOf") or not error.context:
        return [(here, error.message)]
    # "not valid under any of the given schemas" alone does not say what to change.
    # A branch that fails on a const or enum (a union member's tag) or on the type
    # of the value itself is for another kind of value; if only one branch is of
    # the right kind, its problems are the ones to fix.
    branches: dict[Any, list[ValidationError]] = {}
    for e in error.context:
        branches.setdefault(e.relative_schema_path[0], []).append(e)

    def other_kind(e: ValidationError) -> bool:
        return e.validator in ("const", "enum") or (
            e.validator == "type" and tuple(e.absolute_path) == here
        )

    right = [errs for errs in branches.values() if not any(other_kind(e) for e in errs)]
    if len(right) == 1:
        ordered = sorted(right[0], key=lambda e: (e.json_path, e.message))
        return [p for e in ordered for p in _error_problems(e)]
    if not right:
        tags = [e for errs in branches.values() for e in errs if e.validator in ("const", "enum")]
        if tags and len({e.json_path for e in tags}) == 1:
            allowed: list[Any] = []
            for e in tags:
                raw: Any = e.validator_value
                values = [raw] if e.validator == "const" else raw
                allowed.extend(v for v in values if v not in allowed)
            shown = ", ".join(repr(v) for v in allowed)
            return [(tuple(tags[0].absolute_path), f"{tags[0].instance!r} is not one of {shown}")]
        kinds = [e.validator_value for errs in branches.values() for e in errs]
        if all(len(errs) == 1 and errs[0].validator == "type" for errs in branches.values()):
            shown = ", ".join(repr(k) for k in kinds)
            return [(here, f"{error.instance!r} is not of type {shown}")]
    best = best_match(error.context)
    return [
        (here, f"fits none of the allowed forms; closest: at '{best.json_path}': {best.message}")
    ]


def _schema_problems(
    validator: Draft202012Validator, value: Any
) -> tuple[tuple[tuple[PathPart, ...], str], ...]:
    errors = sorted(validator.iter_errors(value), key=lambda e: (e.json_path, e.message))
    return tuple(p for e in errors for p in _error_problems(e))


def schema_problems(validator: Draft202012Validator, value: Any) -> tuple[tuple[str, str], ...]:
    """Every way ``value`` breaks the validator's schema, as ``(path, reason)`` pairs."""
    return _Invalid(_schema_problems(validator, value)).rendered()


# --------------------------------------------------------------------------- JSON output


class NotJSONError(Exception):
    """A value (at ``path``) has no JSON form."""

    def __init__(self, path: str, type_name: str) -> None:
        super().__init__(f"{type_name} at {path!r} is not JSON-serialisable")
        self.path = path
        self.type_name = type_name


def _pydantic_base() -> type | None:
    # Only a program that imported pydantic can hold its models: never import it here.
    module = sys.modules.get("pydantic")
    base = getattr(module, "BaseModel", None)
    return base if isinstance(base, type) else None


def _is_pydantic_model(tp: Any) -> bool:
    base = _pydantic_base()
    return base is not None and isinstance(tp, type) and issubclass(tp, base)


def to_jsonable(value: Any, path: str = "$") -> Any:
    """Plain JSON data for ``value``: enums become their values, attrs and
    dataclass instances dicts of their fields, pydantic models their
    ``model_dump(mode="json")``, tuples lists, dates and times ISO 8601
    strings, UUIDs, decimals and paths strings."""
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
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, uuid.UUID | pathlib.PurePath):
        return str(value)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise NotJSONError(path, f"Decimal {value!r}")
        return str(value)
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
    if _is_pydantic_model(kind):
        try:
            return to_jsonable(value.model_dump(mode="json"), path)
        except NotJSONError:
            raise
        except Exception as exc:  # pydantic's serialisation error, or a user serialiser's
            raise NotJSONError(path, f"{kind.__qualname__} ({exc})") from None
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


def json_default(value: Any) -> tuple[bool, Any]:
    """``(True, json)`` when ``value`` has a JSON form, else ``(False, None)``."""
    try:
        return True, to_jsonable(value)
    except NotJSONError:
        return False, None


# --------------------------------------------------------------------------- the adapter


@define(frozen=True, slots=True, eq=False)
class TypeAdapter(Generic[T]):
    """One type's JSON schema, checked conversion from JSON, and dumping to JSON.

    Build with :func:`type_adapter`.
    """

    annotation: Any
    schema: dict[str, Any]
    _validator: Draft202012Validator = attrs.field(alias="validator", repr=False)
    _converter: Converter | None = attrs.field(alias="converter", repr=False)

    def validate_json_value(self, value: Any) -> T:
        """``value`` (parsed JSON) as the type; :class:`TypeValidationError` when it does not fit.

        Every schema problem is reported; after those, the first problem
        found while converting (a malformed date, an ambiguous union, an
        error raised by the class's own validation).
        """
        problems = _schema_problems(self._validator, value)
        if problems:
            raise TypeValidationError(_Invalid(problems).rendered())
        if self._converter is None:
            return value  # type: ignore[no-any-return]
        try:
            return self._converter(value)  # type: ignore[no-any-return]
        except _Invalid as exc:
            raise TypeValidationError(exc.rendered()) from None

    def dump(self, value: T) -> Any:
        """Plain JSON data for ``value`` (see :func:`to_jsonable`)."""
        try:
            return to_jsonable(value)
        except NotJSONError as exc:
            raise TypeValidationError(((exc.path, str(exc)),)) from None


@overload
def type_adapter(tp: type[T], where: str) -> TypeAdapter[T]: ...
@overload
def type_adapter(tp: Any, where: str) -> TypeAdapter[Any]: ...
def type_adapter(tp: Any, where: str) -> TypeAdapter[Any]:
    """The adapter for ``tp``; :class:`ToolDefinitionError` (naming ``where``) if unsupported."""
    schema, conv = type_schema(tp, where)
    return TypeAdapter(tp, schema, validator=checked_validator(schema, where), converter=conv)


def checked_validator(schema: dict[str, Any], where: str) -> Draft202012Validator:
    """A validator for ``schema``; :class:`ToolDefinitionError` if it is not a valid schema."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        at = "".join(f"[{p!r}]" for p in exc.absolute_path)
        raise ToolDefinitionError(
            f"{where}: invalid JSON schema at {at or 'the top'}: {exc.message}"
        ) from None
    return Draft202012Validator(schema)


# --------------------------------------------------------------------------- type hints


def _type_name(tp: Any) -> str:
    if isinstance(tp, type) and not get_args(tp):
        return tp.__qualname__
    name = getattr(tp, "__name__", None)
    if isinstance(name, str) and not get_args(tp) and not isinstance(tp, type):
        return name  # NewType, type aliases
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
        "use str, int, float, bool, list, tuple, dict[str, ...], Literal, an Enum, a "
        "TypedDict, an attrs class, a dataclass, a pydantic model, datetime, date, time, "
        "UUID, Decimal, Path, Optional or a union of these, or Any"
    )


def _alias_value(tp: Any) -> Any:
    """What a ``type X = ...`` alias (typing or typing_extensions) stands for, else None."""
    if type(tp).__name__ == "TypeAliasType" and hasattr(tp, "__value__"):
        return tp.__value__
    return None


def _to_int(value: Any) -> Any:
    # JSON schema accepts 3.0 as an integer; the function should still get 3.
    return value if type(value) is int else int(value)


def _to_float(value: Any) -> Any:
    return value if type(value) is float else float(value)


def _parser(parse: Callable[[str], Any], what: str) -> Converter:
    def convert(value: Any) -> Any:
        try:
            return parse(value)
        except (ValueError, TypeError, ArithmeticError):
            raise _Invalid.at(f"{value!r} is not {what}") from None

    return convert


def _decimal(value: Any) -> decimal.Decimal:
    # str(): a float's shortest repr, not its binary expansion (0.1, not 0.1000000000000000055...)
    return decimal.Decimal(value if isinstance(value, str) else str(value))


_to_decimal = _parser(_decimal, "a decimal number")


_STRING_TYPES: dict[Any, tuple[dict[str, Any], Converter]] = {
    dt.datetime: (
        {"type": "string", "format": "date-time"},
        _parser(dt.datetime.fromisoformat, "an ISO 8601 date-time"),
    ),
    dt.date: ({"type": "string", "format": "date"}, _parser(dt.date.fromisoformat, "a date")),
    dt.time: ({"type": "string", "format": "time"}, _parser(dt.time.fromisoformat, "a time")),
    uuid.UUID: ({"type": "string", "format": "uuid"}, _parser(uuid.UUID, "a UUID")),
    decimal.Decimal: (
        {"anyOf": [{"type": "number"}, {"type": "string", "pattern": _DECIMAL_PATTERN}]},
        _to_decimal,
    ),
}


def _enum_schema(values: list[Any]) -> dict[str, Any]:
    kinds = list(dict.fromkeys(_JSON_SCALARS.get(type(v), "number") for v in values))
    if len(kinds) == 1:
        return {"type": kinds[0], "enum": values}
    return {"enum": values}


def _enum_converter(tp: type[enum.Enum]) -> Converter:
    return _parser(tp, f"a {tp.__qualname__}")


def _optional(conv: Converter) -> Converter:
    return lambda v: None if v is None else conv(v)


def _items(conv: Converter, values: Any) -> list[Any]:
    out = []
    for i, x in enumerate(values):
        try:
            out.append(conv(x))
        except _Invalid as exc:
            raise exc.under(i) from None
    return out


def _list_of(conv: Converter | None, kind: type) -> Converter:
    if conv is None:
        return kind
    return lambda v: kind(_items(conv, v))


def _dict_of(conv: Converter) -> Converter:
    def convert(value: Any) -> Any:
        out = {}
        for k, x in value.items():
            try:
                out[k] = conv(x)
            except _Invalid as exc:
                raise exc.under(k) from None
        return out

    return convert


def _fixed_tuple(convs: tuple[Converter | None, ...]) -> Converter:
    def convert(value: Any) -> Any:
        out = []
        for i, (c, x) in enumerate(zip(convs, value, strict=True)):
            try:
                out.append(x if c is None else c(x))
            except _Invalid as exc:
                raise exc.under(i) from None
        return tuple(out)

    return convert


def convert_fields(
    convs: tuple[tuple[str, Converter], ...], value: Mapping[str, Any]
) -> dict[str, Any]:
    """``value`` with each named field converted; problems carry the field's path."""
    out = dict(value)
    for key, conv in convs:
        if key in out:
            try:
                out[key] = conv(out[key])
            except _Invalid as exc:
                raise exc.under(key) from None
    return out


def convert_arguments(
    convs: tuple[tuple[str, Converter], ...], arguments: Mapping[str, Any]
) -> dict[str, Any]:
    """Schema-valid ``arguments`` with each named one converted, or :class:`TypeValidationError`."""
    try:
        return convert_fields(convs, arguments)
    except _Invalid as exc:
        raise TypeValidationError(exc.rendered()) from None


def _keyed(
    convs: tuple[tuple[str, Converter], ...], make: Callable[..., Any], name: str
) -> Converter:
    def convert(value: Any) -> Any:
        fields = convert_fields(convs, value)
        if make is dict:
            return fields
        try:
            return make(**fields)
        except (ValueError, TypeError) as exc:
            # The class's own checks (attrs validators, __post_init__) are the model's to fix too.
            raise _Invalid.at(f"{name}: {exc}") from None

    return convert


def type_schema(
    tp: Any, where: str, seen: tuple[Any, ...] = ()
) -> tuple[dict[str, Any], Converter | None]:
    """The JSON schema for ``tp`` and a converter from valid JSON to it (None: as is).

    ``where`` names the place for error messages ("function 'f', parameter 'x'").
    A converter raises ``_Invalid`` for JSON the schema cannot rule out (a
    malformed date, an ambiguous union); :class:`TypeAdapter` reports those.
    """
    origin, args = get_origin(tp), get_args(tp)
    if origin is Annotated:
        return _annotated_schema(tp, args, where, seen)
    if origin in (Required, NotRequired):
        return type_schema(args[0], where, seen)
    supertype = getattr(tp, "__supertype__", None)
    if supertype is not None and callable(tp):  # NewType: the value is the supertype's
        return type_schema(supertype, where, seen)
    aliased = _alias_value(tp)
    if aliased is not None:
        if tp in seen:
            raise _unsupported(tp, where, "recursive types are not supported")
        return type_schema(aliased, where, (*seen, tp))
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
    if tp in _STRING_TYPES:
        fixed = _STRING_TYPES[tp]
        return dict(fixed[0]), fixed[1]
    if isinstance(tp, type) and issubclass(tp, pathlib.PurePath):
        return {"type": "string"}, tp
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
        return _enum_schema(values), _enum_converter(tp)
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
    if _is_pydantic_model(tp):
        return _pydantic_schema(tp, where)
    if (
        is_typeddict(tp)
        or (isinstance(tp, type) and attrs.has(tp))
        or (isinstance(tp, type) and dataclasses.is_dataclass(tp))
    ):
        return _object_schema(tp, where, seen)
    raise _unsupported(tp, where, _hint_for(tp))


def _annotated_schema(
    tp: Any, args: tuple[Any, ...], where: str, seen: tuple[Any, ...]
) -> tuple[dict[str, Any], Converter | None]:
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


def _tuple_schema(
    tp: Any, args: tuple[Any, ...], where: str, seen: tuple[Any, ...]
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


# --------------------------------------------------------------------------- unions


@define(frozen=True, slots=True)
class _Member:
    name: str
    schema: dict[str, Any]
    validator: Draft202012Validator
    converter: Converter | None
    kind: Any  # int and float are told apart by the JSON value's own type


def _union_schema(
    tp: Any, args: tuple[Any, ...], where: str, seen: tuple[Any, ...]
) -> tuple[dict[str, Any], Converter | None]:
    present = [a for a in args if a is not _NONE]
    nullable = len(present) < len(args)
    if len(present) == 1:
        schema, conv = type_schema(present[0], where, seen)
        if not nullable:  # pragma: no cover - typing collapses one-member unions
            return schema, conv
        return {"anyOf": [schema, {"type": "null"}]}, None if conv is None else _optional(conv)
    built = [(m, *type_schema(m, where, seen)) for m in present]
    schemas = [s for _, s, _ in built]
    out = {"anyOf": [*schemas, {"type": "null"}] if nullable else schemas}
    if all(conv is None or m in (int, float) for m, _, conv in built):
        # Plain JSON types: the schema tells them apart, and an int-or-float stays as sent.
        return out, None
    for i, (m, s, _) in enumerate(built):
        if m is Any:
            raise _unsupported(tp, where, "Any in a union matches every value; use Any alone")
        for other, s2, _ in built[:i]:
            if s == s2:
                raise _unsupported(
                    tp,
                    where,
                    f"{_type_name(other)} and {_type_name(m)} have the same JSON schema, "
                    "so JSON cannot say which one is meant",
                )
    members = tuple(
        _Member(_type_name(m), s, checked_validator(s, where), c, m) for m, s, c in built
    )
    tag = _discriminator(members)
    conv = _tagged(members, *tag) if tag else _matching(members)
    return out, _optional(conv) if nullable else conv


def _discriminator(members: tuple[_Member, ...]) -> tuple[str, dict[Any, _Member]] | None:
    """A required field with Literal values that differ between all members, if any."""
    first = members[0].schema
    for key in first.get("properties", {}):
        table: dict[Any, _Member] = {}
        for member in members:
            schema = member.schema
            prop = schema.get("properties", {}).get(key)
            if schema.get("type") != "object" or key not in schema.get("required", ()):
                break
            values = prop.get("enum", [prop["const"]] if "const" in prop else None)
            if not isinstance(values, list):
                break
            keys = [(type(v), v) for v in values]
            if any(k in table for k in keys):
                break
            table.update(dict.fromkeys(keys, member))
        else:
            return key, table
    return None


def _run(member: _Member, value: Any) -> Any:
    problems = _schema_problems(member.validator, value)
    if problems:
        raise _Invalid(problems)
    return value if member.converter is None else member.converter(value)


def _tagged(members: tuple[_Member, ...], key: str, table: dict[Any, _Member]) -> Converter:
    allowed = ", ".join(repr(v) for _, v in table)

    def convert(value: Any) -> Any:
        tag = value.get(key) if isinstance(value, dict) else None
        member = table.get((type(tag), tag))
        if member is None:
            raise _Invalid.at(f"field {key!r} must be one of {allowed}, got {tag!r}")
        return _run(member, value)

    return convert


def _matching(members: tuple[_Member, ...]) -> Converter:
    names = " | ".join(m.name for m in members)

    def convert(value: Any) -> Any:
        matched: list[tuple[_Member, Any]] = []
        failures: list[str] = []
        for member in members:
            try:
                matched.append((member, _run(member, value)))
            except _Invalid as exc:
                first_path, first_reason = exc.rendered()[0]
                failures.append(f"{member.name} (at '{first_path}': {first_reason})")
        if len(matched) > 1:
            # 3 fits both int and float members: the JSON value's own type decides.
            drop = float if type(value) is int else int
            matched = [(m, v) for m, v in matched if m.kind is not drop] or matched
        if len(matched) == 1:
            return matched[0][1]
        if matched:
            fits = ", ".join(m.name for m, _ in matched)
            raise _Invalid.at(f"ambiguous: the value fits each of {fits} (of the union {names})")
        raise _Invalid.at(f"the value fits none of {names}: " + "; ".join(failures))

    return convert


# --------------------------------------------------------------------------- objects


def _object_schema(
    tp: type, where: str, seen: tuple[Any, ...]
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
    make: Callable[..., Any] = tp
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
        make = dict
    elif attrs.has(tp):
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
    else:
        for d in dataclasses.fields(tp):
            if not d.init:
                continue
            missing = d.default is dataclasses.MISSING
            no_factory = d.default_factory is dataclasses.MISSING
            fields.append(
                (d.name, hints.get(d.name, d.type), missing and no_factory, not missing, d.default)
            )
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
    return out, _keyed(tuple(convs), make, tp.__qualname__)


def _pydantic_schema(tp: Any, where: str) -> tuple[dict[str, Any], Converter | None]:
    try:
        raw = tp.model_json_schema()
    except Exception as exc:  # pydantic's error for a field type without a JSON schema
        raise _unsupported(tp, where, f"pydantic cannot give its JSON schema: {exc}") from None
    defs = raw.pop("$defs", {})

    def inline(node: Any, stack: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [inline(v, stack) for v in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref.removeprefix("#/$defs/")
            if name in stack or name not in defs:
                raise _unsupported(tp, where, f"recursive types are not supported ({name})")
            target = inline(defs[name], (*stack, name))
            rest = {k: inline(v, stack) for k, v in node.items() if k != "$ref"}
            return {**target, **rest}
        return {k: inline(v, stack) for k, v in node.items()}

    # Inlined: some services reject $ref, and a member schema must stand alone in a union.
    schema = inline(raw, ())
    name = tp.__qualname__

    def convert(value: Any) -> Any:
        try:
            # JSON mode, as the schema describes it: pydantic's Python mode differs for some
            # types. The value came from JSON, so dumping it back cannot fail.
            return tp.model_validate_json(json.dumps(value))
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            errors = getattr(exc, "errors", None)
            if not callable(errors):
                raise _Invalid.at(f"{name}: {exc}") from None
            raise _Invalid(
                tuple((tuple(e.get("loc", ())), str(e.get("msg", ""))) for e in errors())
            ) from None

    return schema, convert


# --------------------------------------------------------------------------- functions


@define(frozen=True, slots=True)
class FunctionSchema:
    """What a function's signature and docstring say about it as a tool."""

    description: str
    parameters: dict[str, Any]
    converters: tuple[tuple[str, Converter], ...]
    context_param: str | None
    is_method: bool


def function_schema(
    fn: Callable[..., Any],
    label: str,
    context_type: type,
    result_types: tuple[type, ...] = (),
) -> FunctionSchema:
    """Read ``fn``'s signature and docstring; ``label`` names it in errors.

    The return annotation must be JSON-serialisable, one of ``result_types``
    (returned as they are), or a sequence of them.
    """
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
    if signature.return_annotation is not signature.empty:
        check_return_type(signature.return_annotation, f"{label}, return type", result_types)
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


_UNCHECKED_RESULTS: tuple[Any, ...] = (Any, object, None, _NONE, NoReturn, Never)
_AWAITABLES = (cabc.Awaitable, cabc.Coroutine)


def check_return_type(tp: Any, where: str, result_types: tuple[type, ...]) -> None:
    """:class:`ToolDefinitionError` (naming ``where`` and the type) unless a value of
    ``tp`` can be sent to a model: JSON data, one of ``result_types``, or a sequence of those.

    ``Any``, ``object`` and type variables, also inside containers and
    fields, are taken on trust (:func:`to_jsonable` checks them at run time).
    """
    bad = _unreturnable(tp, result_types, ())
    if bad is not None:
        shown = _type_name(tp)
        inner = "" if bad[0] is tp else f" (it holds a {_type_name(bad[0])})"
        raise ToolDefinitionError(
            f"{where}: a {shown}{inner} cannot be sent to the model: {bad[1]}; return JSON "
            "data or a ToolResult, or annotate it -> Any to leave the check to run time"
        )


def _unreturnable(
    tp: Any, result_types: tuple[type, ...], seen: tuple[Any, ...]
) -> tuple[Any, str] | None:
    """The part of ``tp`` with no JSON form and why, or None when every part has one."""
    origin, args = get_origin(tp), get_args(tp)
    if origin is Annotated:
        return _unreturnable(args[0], result_types, seen)
    supertype = getattr(tp, "__supertype__", None)
    if supertype is not None and callable(tp):
        return _unreturnable(supertype, result_types, seen)
    if tp in seen:
        return None  # a recursive type: each level was (or is being) checked
    aliased = _alias_value(tp)
    if aliased is not None:
        return _unreturnable(aliased, result_types, (*seen, tp))
    if isinstance(tp, TypeVar) or any(tp is u for u in _UNCHECKED_RESULTS):
        return None
    if isinstance(tp, type) and issubclass(tp, result_types):
        return None
    parts: list[Any] = []
    if origin is Union or origin is types.UnionType or origin in _AWAITABLES:
        parts = list(args[-1:] if origin in _AWAITABLES else args)
    elif origin in _SEQUENCES or origin is tuple:
        parts = [a for a in args if a is not Ellipsis]
    elif origin in _MAPPINGS:
        key = args[0] if args else str
        if key is not str and not any(key is u for u in _UNCHECKED_RESULTS):
            return tp, "JSON object keys are strings; use dict[str, ...]"
        parts = list(args[1:])
    elif _is_pydantic_model(tp):
        return None  # model_dump(mode="json") is pydantic's to check
    elif is_typeddict(tp) or (
        isinstance(tp, type) and (attrs.has(tp) or dataclasses.is_dataclass(tp))
    ):
        try:
            hints = get_type_hints(tp)
        except Exception as exc:
            return tp, f"cannot resolve its annotations: {exc}"
        parts = list(hints.values())
        seen = (*seen, tp)
    else:
        try:
            type_schema(tp, "return type")
        except ToolDefinitionError:
            return tp, _hint_for(tp)
        return None
    for part in parts:
        bad = _unreturnable(part, result_types, seen)
        if bad is not None:
            return bad
    return None
