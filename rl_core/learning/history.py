"""A training's episodes as columns of numbers, for a process that keeps long histories of live jobs.

A tuple of ``EpisodeRecord`` takes about 280 bytes an episode (seven Python numbers and the record);
these columns take 56. The web process's copy of every live job (rl_core/compute/service.py) is one,
and its live charts read the columns as they are, without copying (rl_core/present/live.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any, overload

import numpy as np

from rl_core.learning.training import EpisodeRecord

FIELDS = tuple(f.name for f in dataclasses.fields(EpisodeRecord))


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

    def __init__(self, capacity: int):
        self.arrays = {name: np.empty(max(16, capacity)) for name in FIELDS}
        self.length = 0

    def append(self, rows: dict[str, np.ndarray], count: int) -> None:
        needed = self.length + count
        self.arrays = {name: room_for(array, self.length, needed) for name, array in self.arrays.items()}
        for name in FIELDS:
            self.arrays[name][self.length : needed] = rows[name]
        self.length = needed


class EpisodeHistory(Sequence[EpisodeRecord]):
    """An append-only sequence of episodes kept as float64 columns (integers stay exact to 2**53).

    ``history + more`` is a longer history. When ``history`` is the longest view of its columns (a
    mirror adding each sync's episodes), the new rows are appended in place and nothing is copied;
    otherwise the result gets columns of its own. Indexing gives an ``EpisodeRecord``."""

    __slots__ = ("_columns", "_length")

    def __init__(self, records: Sequence[EpisodeRecord] = ()):
        self._columns = _Columns(len(records))
        self._length = 0
        self._append(records)

    @classmethod
    def of(cls, records: Sequence[EpisodeRecord]) -> EpisodeHistory:
        """``records`` as a history (itself when it is one)."""
        return records if isinstance(records, EpisodeHistory) else cls(records)

    def _append(self, records: Sequence[EpisodeRecord]) -> None:
        if isinstance(records, EpisodeHistory):
            rows = {name: records.column(name) for name in FIELDS}
        else:
            rows = {
                name: np.fromiter(
                    (np.nan if getattr(r, name) is None else getattr(r, name) for r in records),
                    dtype=np.float64,
                    count=len(records),
                )
                for name in FIELDS
            }
        self._columns.append(rows, len(records))
        self._length = self._columns.length

    def __add__(self, other: Sequence[EpisodeRecord]) -> EpisodeHistory:
        if not isinstance(other, Sequence):
            return NotImplemented
        if self._length == self._columns.length:  # the longest view: append in place, share the columns
            longer = object.__new__(EpisodeHistory)
            longer._columns, longer._length = self._columns, self._length
        else:
            longer = EpisodeHistory(self)
        longer._append(other)
        return longer

    def column(self, name: str) -> np.ndarray:
        """One field of every episode, as a read-only view (never copied)."""
        view = self._columns.arrays[name][: self._length]
        view.flags.writeable = False
        return view

    def __len__(self) -> int:
        return self._length

    def _record(self, index: int) -> EpisodeRecord:
        a = self._columns.arrays
        return EpisodeRecord(
            episode=int(a["episode"][index]),
            reward=float(a["reward"][index]),
            steps=int(a["steps"][index]),
            epsilon=float(a["epsilon"][index]),
            loss=float(a["loss"][index]),
            env_steps=int(a["env_steps"][index]),
            seconds=float(a["seconds"][index]),
        )

    @overload
    def __getitem__(self, index: int) -> EpisodeRecord: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[EpisodeRecord, ...]: ...
    def __getitem__(self, index: int | slice) -> EpisodeRecord | tuple[EpisodeRecord, ...]:
        if isinstance(index, slice):
            return tuple(self._record(i) for i in range(*index.indices(self._length)))
        if index < 0:
            index += self._length
        if not 0 <= index < self._length:
            raise IndexError("episode index out of range")
        return self._record(index)

    def __iter__(self) -> Iterator[EpisodeRecord]:
        return (self._record(i) for i in range(self._length))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(other) == self._length and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        return (EpisodeHistory, (tuple(self),))

    def __repr__(self) -> str:
        return f"EpisodeHistory({self._length} episodes)"
