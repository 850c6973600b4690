"""Records: typed, slotted, by default frozen classes, declared like dataclasses.

Why not `dataclasses`: on CPython 3.11 each dataclass compiles its generated methods with
`exec` at import (about 1 ms per class here), and the module pulls in `inspect`, `ast` and
`tokenize`: some 40 ms before `fleetctl status` has looked at anything. These classes share
a handful of generic methods instead, so declaring one costs microseconds. Type checkers
read `@record` as a dataclass (PEP 681).

Semantics follow `@dataclass(frozen=True, slots=True)`: fields in declaration order (base
records first), defaults, `field(default_factory=...)`, keyword or positional construction,
equality and hashing by type and field values, a readable repr, and `replace()`.
`@record(frozen=False)` gives a mutable record (not hashable).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T")

_MISSING: Any = object()


class _Factory:
    __slots__ = ("make",)

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make


def field(*, default: Any = _MISSING, default_factory: Callable[[], Any] | None = None) -> Any:
    """A field's default: a value, or a factory called per instance (for lists and dicts)."""
    if default_factory is not None:
        return _Factory(default_factory)
    return default


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    # The hot path of every status: a few C-level dict operations per record, no loop over
    # defaults in Python.
    cls = type(self)
    names: tuple[str, ...] = cls.__record_fields__
    put = object.__setattr__
    if args:
        if len(args) == len(names) and not kwargs:
            for name, value in zip(names, args, strict=True):
                put(self, name, value)
            return
        if len(args) > len(names):
            raise TypeError(f"{cls.__name__}() takes {len(names)} arguments, got {len(args)}")
        positional = dict(zip(names, args, strict=False))
        if not positional.keys().isdisjoint(kwargs):
            raise TypeError(f"{cls.__name__}() got repeated arguments: {', '.join(positional.keys() & kwargs)}")
        kwargs.update(positional)
    values = {**cls.__record_defaults__, **kwargs}
    if len(values) != len(names) or values.keys() != cls.__record_names__:
        unknown = values.keys() - cls.__record_names__
        if unknown:
            raise TypeError(f"{cls.__name__}() got unexpected arguments: {', '.join(sorted(unknown))}")
        raise TypeError(f"{cls.__name__}() missing argument: {', '.join(repr(n) for n in names if n not in values)}")
    for name in cls.__record_factories__:
        if name not in kwargs:
            values[name] = values[name].make()
    for name in names:
        put(self, name, values[name])


def _values(self: Any) -> tuple[Any, ...]:
    return tuple([getattr(self, name) for name in self.__record_fields__])


def _repr(self: Any) -> str:
    parts = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__record_fields__)
    return f"{type(self).__qualname__}({parts})"


def _eq(self: Any, other: object) -> object:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self) == _values(other)


def _hash(self: Any) -> int:
    return hash(_values(self))


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    raise AttributeError(f"{type(self).__name__} is frozen: cannot set {name!r} (use replace())")


def _frozen_delattr(self: Any, name: str) -> None:
    raise AttributeError(f"{type(self).__name__} is frozen: cannot delete {name!r}")


def _reduce(self: Any) -> tuple[Any, ...]:
    return (type(self), _values(self))


def _build(cls: type, frozen: bool) -> type:
    names: list[str] = []
    defaults: dict[str, Any] = {}
    for base in reversed(cls.__mro__[1:]):
        for name in getattr(base, "__record_fields__", ()):
            if name not in names:
                names.append(name)
        defaults.update(getattr(base, "__record_defaults__", {}))
    annotations = cls.__dict__.get("__annotations__", {})  # noqa: RUF063 - inspect is what we avoid
    own = [name for name in annotations if name not in names]
    namespace = {k: v for k, v in cls.__dict__.items() if k not in own and k not in ("__dict__", "__weakref__")}
    for name in own:
        names.append(name)
        if name in cls.__dict__:
            defaults[name] = cls.__dict__[name]
    for before, after in itertools.pairwise(names):
        if before in defaults and after not in defaults:
            raise TypeError(f"{cls.__name__}: field {after!r} without a default follows {before!r} with one")
    factories = tuple(name for name, value in defaults.items() if type(value) is _Factory)
    namespace.update(
        __slots__=tuple(own),
        __record_fields__=tuple(names),
        __record_defaults__=defaults,
        __record_names__=frozenset(names),
        __record_factories__=factories,
        __match_args__=tuple(names),
        __reduce__=_reduce,
    )
    for name, method in (("__init__", _init), ("__repr__", _repr), ("__eq__", _eq)):
        namespace.setdefault(name, method)
    if frozen:
        namespace.update(__setattr__=_frozen_setattr, __delattr__=_frozen_delattr)
        namespace.setdefault("__hash__", _hash)
    elif "__hash__" not in cls.__dict__:
        namespace["__hash__"] = None
    return type(cls)(cls.__name__, cls.__bases__, namespace)


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: type[T] | None = None, /, *, frozen: bool = True) -> Any:
    """Declare a record: `@record` (frozen) or `@record(frozen=False)`."""

    def wrap(c: type[T]) -> type[T]:
        return _build(c, frozen)

    return wrap if cls is None else wrap(cls)


def replace(obj: T, /, **changes: Any) -> T:
    """A copy of a record with some fields changed."""
    names = type(obj).__record_fields__  # type: ignore[attr-defined]
    unknown = set(changes) - set(names)
    if unknown:
        raise TypeError(f"{type(obj).__name__} has no field {', '.join(sorted(unknown))}")
    return type(obj)(**{n: changes[n] if n in changes else getattr(obj, n) for n in names})
