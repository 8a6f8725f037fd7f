"""A training's episodes and evaluations as columns of numbers, for a process that keeps long
histories of live jobs.

A tuple of ``EpisodeRecord`` takes about 280 bytes an episode (seven Python numbers and the record);
these columns take 56. The web process's copy of every live job (rl_core/compute/service.py) keeps
both as columns, and its live charts read them as they are, without copying (rl_core/present/live.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Generic, Self, TypeVar, cast, overload

import numpy as np

from rl_core.learning.training import EpisodeRecord, EvalRecord

R = TypeVar("R")


def room_for(array: np.ndarray, used: int, needed: int) -> np.ndarray:
    """``array`` if it holds ``needed`` rows, else a new one twice as long (at least ``needed``) with
    its first ``used`` rows copied: growing by doubling keeps appends amortised O(1), and a reader of
    the old array still sees its rows unchanged."""
    if needed <= len(array):
        return array
    grown = np.empty(max(needed, 2 * len(array)), dtype=array.dtype)
    grown[:used] = array[:used]
    return grown


class _Columns:
    """The growing arrays one or more histories read (each its first ``length`` rows, which never change)."""

    __slots__ = ("arrays", "length")

    def __init__(self, fields: tuple[str, ...], capacity: int):
        self.arrays = {name: np.empty(max(16, capacity)) for name in fields}
        self.length = 0

    def append(self, rows: dict[str, np.ndarray], count: int) -> None:
        needed = self.length + count
        self.arrays = {name: room_for(array, self.length, needed) for name, array in self.arrays.items()}
        for name, array in self.arrays.items():
            array[self.length : needed] = rows[name]
        self.length = needed


class RecordHistory(Sequence[R], Generic[R]):
    """An append-only sequence of one record type kept as float64 columns (integers stay exact to 2**53).

    ``history + more`` is a longer history. When ``history`` is the longest view of its columns (a
    mirror adding each sync's records), the new rows are appended in place and nothing is copied;
    otherwise the result gets columns of its own. Indexing gives a record. A subclass names its
    record type (a dataclass of numbers; None is kept as nan)."""

    __slots__ = ("_columns", "_length")
    record_type: ClassVar[type[Any]]
    fields: ClassVar[tuple[str, ...]]
    _integers: ClassVar[frozenset[str]]  # the fields given back as int

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        fields = dataclasses.fields(cls.record_type)
        cls.fields = tuple(f.name for f in fields)
        cls._integers = frozenset(f.name for f in fields if f.type in (int, "int"))

    def __init__(self, records: Sequence[R] = ()):
        self._columns = _Columns(self.fields, len(records))
        self._length = 0
        self._append(records)

    @classmethod
    def of(cls, records: Sequence[R]) -> Self:
        """``records`` as a history (itself when it is one)."""
        return records if isinstance(records, cls) else cls(records)

    def _append(self, records: Sequence[R]) -> None:
        if isinstance(records, type(self)):
            rows = {name: records.column(name) for name in self.fields}
        else:
            rows = {
                name: np.fromiter(
                    (np.nan if getattr(r, name) is None else getattr(r, name) for r in records),
                    dtype=np.float64,
                    count=len(records),
                )
                for name in self.fields
            }
        self._columns.append(rows, len(records))
        self._length = self._columns.length

    def __add__(self, other: Sequence[R]) -> Self:
        if not isinstance(other, Sequence):
            return NotImplemented
        if self._length == self._columns.length:  # the longest view: append in place, share the columns
            longer = object.__new__(type(self))
            longer._columns, longer._length = self._columns, self._length
        else:
            longer = type(self)(self)
        longer._append(other)
        return longer

    def column(self, name: str) -> np.ndarray:
        """One field of every record, as a read-only view (never copied)."""
        view = self._columns.arrays[name][: self._length]
        view.flags.writeable = False
        return view

    def __len__(self) -> int:
        return self._length

    def _record(self, index: int) -> R:
        a = self._columns.arrays
        values = {name: (int if name in self._integers else float)(a[name][index]) for name in self.fields}
        return cast(R, self.record_type(**values))

    @overload
    def __getitem__(self, index: int) -> R: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[R, ...]: ...
    def __getitem__(self, index: int | slice) -> R | tuple[R, ...]:
        if isinstance(index, slice):
            return tuple(self._record(i) for i in range(*index.indices(self._length)))
        if index < 0:
            index += self._length
        if not 0 <= index < self._length:
            raise IndexError(f"{self.record_type.__name__} index out of range")
        return self._record(index)

    def __iter__(self) -> Iterator[R]:
        return (self._record(i) for i in range(self._length))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(other) == self._length and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (tuple(self),))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._length} records)"


class EpisodeHistory(RecordHistory[EpisodeRecord]):
    """A training's episodes: 56 bytes an episode instead of about 280."""

    __slots__ = ()
    record_type = EpisodeRecord


class EvaluationHistory(RecordHistory[EvalRecord]):
    """A training's periodic evaluations: 64 bytes each instead of about 300."""

    __slots__ = ()
    record_type = EvalRecord
