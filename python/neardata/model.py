"""Host profiles, workloads, placements, costs and rankings as plain Python objects."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union, overload

from . import _native
from .errors import ProfileError

PathLike = Union[str, "Path"]

#: Objectives a ranking can use (lower score is better).
OBJECTIVES = ("weighted", "pushback", "min_total_cpu", "max_storage_throughput", "min_latency")


def _check_finite(value: Any, path: str, origin: str) -> None:
    """Refuses NaN and infinities before they reach JSON (which has no spelling for them)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ProfileError(
            f"{origin}: {path} must be a finite number, got {value}", origin, path, str(value)
        )
    if isinstance(value, Mapping):
        for k, v in value.items():
            _check_finite(v, f"{path}.{k}" if path else str(k), origin)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_finite(v, f"{path}[{i}]", origin)


class Workload:
    """One function's workload profile, validated by the Rust cost model.

    Parameters
    ----------
    data : mapping
        The fields of one entry of a workload file (``id``, ``records_per_invocation``,
        ``record_bytes``, ``request_bytes``, ``response_bytes``, ``compute``, ``arrival``, and
        optionally ``description``, ``dependent_reads``, ``slo``, ``chain``).
    origin : str, optional
        Names the source in error messages.

    Raises
    ------
    ProfileError
        For a missing or unknown field, or a value out of its domain (NaN, negative).
    """

    __slots__ = ("_data", "_json")

    def __init__(self, data: Mapping[str, Any], origin: str = "workload") -> None:
        _check_finite(data, "", origin)
        self._json: str = _native.check_workload_json(json.dumps(dict(data)), origin)
        self._data: Dict[str, Any] = json.loads(self._json)

    @property
    def id(self) -> str:
        """The function's id."""
        return str(self._data["id"])

    @property
    def records_per_invocation(self) -> float:
        """Records read per invocation, ``k``."""
        return float(self._data["records_per_invocation"])

    @property
    def record_bytes(self) -> float:
        """Bytes per record, ``s``."""
        return float(self._data["record_bytes"])

    @property
    def rate(self) -> float:
        """Mean invocations per second."""
        return float(self._data["arrival"]["rate"])

    def to_dict(self) -> Dict[str, Any]:
        """All fields, as a new dict (defaults filled in)."""
        return json.loads(self._json)

    def replace(self, **changes: Any) -> "Workload":
        """A validated copy with some top-level fields changed.

        Examples
        --------
        >>> w2 = w.replace(records_per_invocation=16.0)  # doctest: +SKIP
        """
        d = self.to_dict()
        d.update(changes)
        return Workload(d, origin=f"{self.id} (replaced)")

    def __repr__(self) -> str:
        return f"Workload(id={self.id!r}, records_per_invocation={self.records_per_invocation})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Workload) and self._data == other._data


def load_workloads(path: PathLike) -> Dict[str, List[Workload]]:
    """Loads a workload file (RON), or every ``*.ron`` file of a directory.

    Returns
    -------
    dict
        File name (stem for a directory) to its workloads, in file order.

    Raises
    ------
    ProfileError
        Naming the file, the field and the value.
    OSError
        When a file cannot be read.
    """
    sets = json.loads(_native.load_workloads_json(str(path)))
    return {
        name: [Workload(w, origin=f"{name}: {w['id']}") for w in s["workloads"]]
        for name, s in sets
    }


def workloads_from_ron(text: str, origin: str = "<string>") -> List[Workload]:
    """Parses a workload set from RON text (the format of ``fixtures/workloads``)."""
    s = json.loads(_native.workloads_from_ron_json(text, origin))
    return [Workload(w, origin=f"{origin}: {w['id']}") for w in s["workloads"]]


@dataclass(frozen=True, order=True)
class Placement:
    """Where and how an invocation runs.

    Attributes
    ----------
    regime : str
        ``"dedicated"`` or ``"multiplexed"`` (inside the storage server) or ``"remote"``.
    scheme, transport : str
        Isolation scheme and transport ids of the host profile.
    multiget, batch : int
        Keys per multi-get, invocations per batch (>= 1).
    node : int
        Index of the node in ``free_cores``.
    """

    regime: str
    scheme: str
    transport: str
    multiget: int = 1
    batch: int = 1
    node: int = 0

    @classmethod
    def inside(cls, scheme: str, transport: str, node: int = 0) -> "Placement":
        """Multiplexed inside the storage server."""
        return cls("multiplexed", scheme, transport, node=node)

    @classmethod
    def dedicated(cls, scheme: str, transport: str, node: int = 0) -> "Placement":
        """On a dedicated core of the storage server."""
        return cls("dedicated", scheme, transport, node=node)

    @classmethod
    def remote(cls, scheme: str, transport: str, node: int = 0) -> "Placement":
        """At a compute node, fetching one key per request."""
        return cls("remote", scheme, transport, node=node)

    def _tuple(self) -> Tuple[str, str, str, int, int, int]:
        return (self.regime, self.scheme, self.transport, self.multiget, self.batch, self.node)

    def __str__(self) -> str:
        s = f"{self.regime}/{self.scheme}/{self.transport}"
        if self.multiget > 1:
            s += f"/mget{self.multiget}"
        if self.batch > 1:
            s += f"/batch{self.batch}"
        if self.node != 0:
            s += f"@node{self.node}"
        return s


@dataclass(frozen=True)
class Term:
    """One named term of a cost: ``term`` (``"server per-request"``), ``axis``
    (``"storage_cpu"``, ``"compute_cpu"`` or ``"latency"``) and its value in ns."""

    term: str
    axis: str
    ns: float


@dataclass(frozen=True)
class Cost:
    """A placement's cost per invocation, with the terms that produced it."""

    storage_cpu_ns: float
    compute_cpu_ns: float
    total_cpu_ns: float
    latency_ns: float
    network_bytes: float
    terms: Tuple[Term, ...]
    text: str = field(repr=False, default="")

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "Cost":
        return cls(
            storage_cpu_ns=d["storage_cpu_ns"],
            compute_cpu_ns=d["compute_cpu_ns"],
            total_cpu_ns=d["total_cpu_ns"],
            latency_ns=d["latency_ns"],
            network_bytes=d["network_bytes"],
            terms=tuple(Term(**t) for t in d["terms"]),
            text=d.get("text", ""),
        )

    def term(self, name: str) -> float:
        """The value of the term called ``name`` (0 when it does not apply)."""
        return next((t.ns for t in self.terms if t.term == name), 0.0)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Ranked:
    """One candidate of a :class:`Ranking`."""

    rank: int
    placement: Placement
    score: Optional[float]
    infeasible: Optional[str]
    cost: Optional[Cost]
    explanation: str
    vs_winner: Tuple[Tuple[str, float], ...]

    @property
    def feasible(self) -> bool:
        """True when the candidate can be used."""
        return self.infeasible is None


class Ranking(Sequence[Ranked]):
    """Candidates best first: feasible ones by score (ties by placement id), then infeasible
    ones with their reasons. A sequence of :class:`Ranked`."""

    def __init__(self, objective: str, entries: List[Ranked]) -> None:
        self.objective = objective
        self._entries = entries

    @overload
    def __getitem__(self, i: int) -> Ranked: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Ranked]: ...
    def __getitem__(self, i: Union[int, slice]) -> Union[Ranked, Sequence[Ranked]]:
        return self._entries[i]

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Ranked]:
        return iter(self._entries)

    @property
    def best(self) -> Optional[Ranked]:
        """The best feasible candidate, or ``None``."""
        return self._entries[0] if self._entries and self._entries[0].feasible else None

    def feasible(self) -> List[Ranked]:
        """The feasible candidates, best first."""
        return [e for e in self._entries if e.feasible]

    def infeasible(self) -> List[Ranked]:
        """The infeasible candidates, each with its reason."""
        return [e for e in self._entries if not e.feasible]

    def explain(self, rank: int = 0) -> str:
        """Why the candidate at ``rank`` (0 = best) sits there: its totals with their largest
        terms and, below the winner, the terms that put it behind."""
        return self._entries[rank].explanation

    def to_records(self) -> List[Dict[str, Any]]:
        """One flat dict per candidate, for ``pandas.DataFrame(ranking.to_records())``."""
        rows = []
        for e in self._entries:
            row: Dict[str, Any] = {"rank": e.rank, "placement": str(e.placement)}
            row.update(asdict(e.placement))
            row.update(score=e.score, feasible=e.feasible, infeasible=e.infeasible)
            for k in ("storage_cpu_ns", "compute_cpu_ns", "total_cpu_ns", "latency_ns", "network_bytes"):
                row[k] = getattr(e.cost, k) if e.cost is not None else None
            rows.append(row)
        return rows

    def to_dict(self) -> Dict[str, List[Any]]:
        """Columns: each key of :meth:`to_records` to its list of values."""
        records = self.to_records()
        keys = list(records[0]) if records else []
        return {k: [r[k] for r in records] for k in keys}

    def __repr__(self) -> str:
        best = self.best
        return f"Ranking({len(self)} candidates, best={str(best.placement) if best else None})"
