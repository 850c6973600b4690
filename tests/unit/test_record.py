"""fleetctl.record behaves like @dataclass(frozen=True, slots=True) where the project relies on it."""

from __future__ import annotations

import copy
import pickle

import pytest

from fleetctl.record import field, record, replace


@record
class Point:
    """A test record."""

    x: int
    y: int = 0
    tags: list[str] = field(default_factory=list)


@record
class Other:
    x: int
    y: int = 0
    tags: list[str] = field(default_factory=list)


@record
class Labelled(Point):
    label: str = ""


@record(frozen=False)
class Counter:
    n: int = 0


def test_positional_keyword_and_defaults() -> None:
    p = Point(1, y=2)
    assert (p.x, p.y, p.tags) == (1, 2, [])
    assert Point(x=3).y == 0


def test_each_instance_gets_its_own_factory_value() -> None:
    a, b = Point(1), Point(1)
    a.tags.append("t")
    assert b.tags == []


def test_missing_unknown_and_repeated_arguments_are_type_errors() -> None:
    with pytest.raises(TypeError, match="missing argument: 'x'"):
        Point()
    with pytest.raises(TypeError, match="unexpected"):
        Point(1, z=3)
    with pytest.raises(TypeError, match="repeated"):
        Point(1, x=2)
    with pytest.raises(TypeError, match="takes 3 arguments"):
        Point(1, 2, [], 4)


def test_equality_and_hash_are_by_type_and_values() -> None:
    assert Point(1, 2) == Point(1, 2)
    assert Point(1, 2) != Point(1, 3)
    assert Point(1, 2) != Other(1, 2)  # same values, different record
    assert len({Point(1, 2, ()), Point(1, 2, ())}) == 1  # type: ignore[arg-type]


def test_frozen_records_refuse_assignment() -> None:
    p = Point(1)
    with pytest.raises(AttributeError, match="frozen"):
        p.x = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        p.z = 2  # type: ignore[attr-defined]


def test_mutable_records_assign_and_are_not_hashable() -> None:
    c = Counter()
    c.n += 1
    assert c == Counter(1)
    with pytest.raises(TypeError):
        hash(c)


def test_replace_copies_with_changes_and_rejects_unknown_fields() -> None:
    p = Labelled(1, 2, label="a")
    q = replace(p, y=5)
    assert (q.x, q.y, q.label, p.y) == (1, 5, "a", 2)
    assert type(q) is Labelled
    with pytest.raises(TypeError, match="no field z"):
        replace(p, z=1)


def test_subclass_fields_follow_base_fields() -> None:
    assert Labelled.__record_fields__ == ("x", "y", "tags", "label")  # type: ignore[attr-defined]
    assert Labelled(1, 2, [], "b").label == "b"


def test_repr_docstring_and_slots() -> None:
    assert repr(Point(1)) == "Point(x=1, y=0, tags=[])"
    assert Point.__doc__ == "A test record."
    assert not hasattr(Point(1), "__dict__")


def test_copy_and_pickle_round_trip() -> None:
    p = Labelled(1, 2, ["t"], "l")
    assert copy.copy(p) == p
    assert copy.deepcopy(p) == p
    assert pickle.loads(pickle.dumps(p)) == p


def test_a_field_without_default_after_one_with_is_refused() -> None:
    with pytest.raises(TypeError, match="without a default"):

        @record
        class Bad:
            a: int = 0
            b: int
