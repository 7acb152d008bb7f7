"""A host profile and what can be asked of it: evaluate, rank, crossover, the regime advisor;
plus provisioning and running ``calibrate``."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Mapping, Optional, Sequence, Tuple, Union

from . import _native
from .errors import CalibrationError, ProfileError
from .model import OBJECTIVES, Cost, Placement, Ranked, Ranking, Workload, PathLike


@dataclass(frozen=True)
class Advice:
    """The regime advisor's answer for one window of arrivals."""

    window: int
    regime: str
    switched: Optional[Tuple[str, str]]
    reason: str
    rate: float
    saving_per_s: float
    horizon_ns: float
    change_point: bool


class HostProfile:
    """A calibrated (or literature) host profile and the cost model built from it.

    Build with :meth:`load` or :meth:`from_ron`; both validate every number and raise
    :class:`~neardata.ProfileError` naming the file, the field and the value.
    """

    def __init__(self, native: "_native.Host") -> None:
        self._host = native

    @classmethod
    def load(cls, path: PathLike) -> "HostProfile":
        """Loads a host profile file (RON, as ``calibrate`` writes it).

        Raises
        ------
        ProfileError
            When the file is not a valid profile.
        OSError
            When it cannot be read.
        """
        return cls(_native.Host.load(str(path)))

    @classmethod
    def from_ron(cls, text: str, origin: str = "<string>") -> "HostProfile":
        """Parses a host profile from RON text; ``origin`` names it in errors."""
        return cls(_native.Host.from_ron(text, origin))

    def at_table(self, table_bytes: float) -> "HostProfile":
        """This profile moved from its probe table to a storage server's table holding
        ``table_bytes`` bytes of records: every scheme's local access that read the probe table
        moves by the profile's table-size curve, and the scattered-read premium becomes the
        curve's at that size (``HostProfile::at_table`` in the ``costmodel`` crate).

        Raises
        ------
        ProfileError
            When the profile has no table-size curve (calibrated before it was measured), or
            ``table_bytes`` is not a positive size.
        """
        return HostProfile(self._host.at_table(float(table_bytes)))

    @property
    def name(self) -> str:
        """The host's name (``vm-2cpu-amd-epyc``)."""
        return self._host.name

    @property
    def origin(self) -> str:
        """The file or origin it was loaded from."""
        return self._host.origin

    @property
    def schemes(self) -> List[str]:
        """Isolation scheme ids the model knows."""
        return self._host.scheme_ids()

    @property
    def transports(self) -> List[str]:
        """Transport ids the model knows."""
        return self._host.transport_ids()

    def to_ron(self) -> str:
        """The profile as RON text."""
        return self._host.to_ron()

    def default_candidates(self) -> List[Placement]:
        """Every scheme x transport in the three regimes, one key per fetch, node 0."""
        return [Placement(**p) for p in json.loads(self._host.default_candidates_json())]

    def evaluate(
        self,
        workload: Workload,
        placement: Placement,
        *,
        warm_hit: float = 1.0,
        storage_utilisation: float = 0.0,
        drained_per_wakeup: float = 1.0,
        requests_per_syscall: float = 1.0,
        peer_wakeups_per_request: Optional[float] = None,
    ) -> Cost:
        """The cost of one invocation of ``workload`` under ``placement``.

        Parameters
        ----------
        warm_hit : float
            Probability an invocation finds a warm context, in [0, 1].
        storage_utilisation : float
            Utilisation of the storage server, in [0, 1).
        drained_per_wakeup : float
            Requests the storage server handles per wake-up (>= 1).
        requests_per_syscall : float
            Requests sharing one read and one write at the server (>= 1; pipelining). Read by
            transports calibrated with ``calibrate server``.
        peer_wakeups_per_request : float, optional
            Clients the server's replies wake per request (>= 0; 0 for clients that are busy
            or poll). Default: one per server wake-up.
        """
        d = self._host.evaluate_json(
            workload._json, placement._tuple(), warm_hit, storage_utilisation,
            (drained_per_wakeup, requests_per_syscall, peer_wakeups_per_request),
        )
        return Cost._from(json.loads(d))

    def rank(
        self,
        workload: Workload,
        candidates: Optional[Sequence[Placement]] = None,
        *,
        free_cores: Sequence[float] = (1e6,),
        data_node: int = 0,
        storage_utilisation: float = 0.0,
        warm_hit: float = 1.0,
        drained_per_wakeup: float = 1.0,
        requests_per_syscall: float = 1.0,
        peer_wakeups_per_request: Optional[float] = None,
        objective: str = "weighted",
    ) -> Ranking:
        """Ranks the candidate placements of ``workload``, best first, each explained.

        Parameters
        ----------
        candidates : sequence of Placement, optional
            Default: :meth:`default_candidates`.
        free_cores : sequence of float
            Free cores per node, indexed by ``Placement.node`` (default: one node with a million
            cores, so no candidate is refused for CPU).
        data_node : int
            The node holding the function's records (storage-side placements must run there).
        objective : str
            One of :data:`neardata.OBJECTIVES`.

        Returns
        -------
        Ranking
            The same order as the Rust solver's ``Candidates::rank``.
        """
        if objective not in OBJECTIVES:
            raise ProfileError(
                f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}",
                None, "objective", objective,
            )
        tuples = None if candidates is None else [p._tuple() for p in candidates]
        d = json.loads(
            self._host.rank_json(
                workload._json, tuples, [float(f) for f in free_cores], data_node,
                storage_utilisation, warm_hit,
                (drained_per_wakeup, requests_per_syscall, peer_wakeups_per_request),
                objective, True,
            )
        )
        entries = [
            Ranked(
                rank=e["rank"],
                placement=Placement(**e["placement"]),
                score=e["score"],
                infeasible=e["infeasible"],
                cost=Cost._from(e["cost"]) if e["cost"] is not None else None,
                explanation=e["explanation"] or "",
                vs_winner=tuple((t, ns) for t, ns in e["vs_winner"]),
            )
            for e in d["ranking"]
        ]
        return Ranking(objective, entries)

    def crossover(
        self,
        workload: Workload,
        inside: Placement,
        remote: Placement,
        *,
        warm_hit: float = 1.0,
        storage_utilisation: float = 0.0,
        drained_per_wakeup: float = 1.0,
        requests_per_syscall: float = 1.0,
        peer_wakeups_per_request: Optional[float] = None,
    ) -> Optional[float]:
        """Records per invocation ``k*`` above which ``inside`` (multiplexed) costs the storage
        server less CPU than ``remote`` (one key per fetch); ``None`` when it never does."""
        return self._host.crossover(
            workload._json, inside._tuple(), remote._tuple(),
            warm_hit, storage_utilisation,
            (drained_per_wakeup, requests_per_syscall, peer_wakeups_per_request),
        )

    def advise(
        self,
        workload: Workload,
        arrivals: Sequence[float],
        *,
        scheme: str = "native",
        transport: str = "tcp",
        start: str = "multiplexed",
        objective: str = "weighted",
        config: Optional[Mapping[str, Any]] = None,
    ) -> List[Advice]:
        """Runs the regime advisor over one arrival count per window.

        Parameters
        ----------
        arrivals : sequence of float
            Invocations in each window (``config["window_ns"]`` long, 10 ms by default).
        start : str
            The regime the function starts in.
        config : mapping, optional
            Advisor settings: ``window_ns``, ``cusum_k``, ``cusum_h``, ``cusum_warmup`` (the
            change detector, ``profiler::CusumParams``), ``min_windows``,
            ``max_horizon_ns``, ``hysteresis``, ``reverse_band``, ``transition`` (three costs).

        Returns
        -------
        list of Advice
            One per window: the regime to run in, whether it switched, and why.
        """
        cfg = None if config is None else json.dumps(dict(config))
        d = json.loads(
            self._host.advise_json(
                workload._json, [float(a) for a in arrivals], scheme, transport, start,
                objective, cfg,
            )
        )
        return [
            Advice(**{**a, "switched": tuple(a["switched"]) if a["switched"] else None})
            for a in d
        ]

    def __repr__(self) -> str:
        return f"HostProfile({self.name!r}, origin={self.origin!r})"


@dataclass(frozen=True)
class Resources:
    """An amount of each resource: CPU in millicores, memory in bytes, NIC queues in
    thousandths of a queue."""

    cpu_millicores: int
    memory_bytes: int
    nic_milliqueues: int


@dataclass(frozen=True)
class Provisioning:
    """Functions packed onto machines (see :func:`provision`)."""

    assignment: List[Optional[int]]
    used: List[Resources]
    machines_used: int
    lower_bound: int
    gap: float
    unplaced: List[int]


ResourceLike = Union[Resources, Tuple[int, int, int]]


def _triple(r: ResourceLike) -> Tuple[int, int, int]:
    if isinstance(r, Resources):
        return (r.cpu_millicores, r.memory_bytes, r.nic_milliqueues)
    c, m, n = r
    return (int(c), int(m), int(n))


def provision(machines: Sequence[ResourceLike], demands: Sequence[ResourceLike]) -> Provisioning:
    """Packs functions (``demands``) onto ``machines`` across CPU, memory and NIC queues.

    Returns
    -------
    Provisioning
        The machine of each function (``None`` when none fits), the machines used, and the lower
        bound any assignment needs (``gap = used / bound - 1``).
    """
    d = json.loads(
        _native.provision_json([_triple(m) for m in machines], [_triple(x) for x in demands])
    )
    return Provisioning(
        assignment=d["assignment"],
        used=[Resources(*u) for u in d["used"]],
        machines_used=d["machines_used"],
        lower_bound=d["lower_bound"],
        gap=d["gap"],
        unplaced=d["unplaced"],
    )


def _find_calibrate() -> List[str]:
    env = os.environ.get("NEARDATA_CALIBRATE")
    if env:
        return env.split()
    found = shutil.which("calibrate")
    if found:
        return [found]
    # A checkout of the repository: a binary cargo already built.
    root = Path(__file__).resolve().parents[2]
    for profile in ("release", "debug"):
        p = root / "target" / profile / "calibrate"
        if p.is_file():
            return [str(p)]
    raise CalibrationError(
        "calibrate not found: set NEARDATA_CALIBRATE, put it on PATH, or "
        "`cargo build --release -p calibrate`",
        [], None, "",
    )


def calibrate(
    out: PathLike = "host.ron",
    *,
    quick: bool = True,
    command: Optional[Sequence[str]] = None,
    extra_args: Sequence[str] = (),
    timeout: float = 600.0,
) -> HostProfile:
    """Runs ``calibrate run`` in a subprocess and loads the profile it writes.

    Parameters
    ----------
    out : path
        Where the profile is written.
    quick : bool
        The quick budget (seconds) instead of the full one (under two minutes).
    command : sequence of str, optional
        The command to run instead of ``calibrate`` (for example
        ``["cargo", "run", "--release", "-p", "calibrate", "--"]``). Default: the
        ``NEARDATA_CALIBRATE`` environment variable, ``calibrate`` on ``PATH``, or the
        repository's ``target/{release,debug}/calibrate``.
    extra_args : sequence of str
        More arguments for ``calibrate run`` (``--only``, ``--table-records`` ...).

    Raises
    ------
    CalibrationError
        When the command cannot start, fails or times out (with its last output lines).
    ProfileError
        When it wrote a profile that does not validate.
    """
    cmd = list(command) if command is not None else _find_calibrate()
    cmd += ["run", "--out", str(out)] + (["--quick"] if quick else []) + list(extra_args)
    try:
        proc = subprocess.run(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError as e:
        raise CalibrationError(f"cannot start {cmd[0]}: {e}", cmd, None, "") from e
    except subprocess.TimeoutExpired as e:
        out_text = e.output if isinstance(e.output, str) else ""
        raise CalibrationError(f"calibrate ran past {timeout} s", cmd, None, out_text) from e
    tail = "\n".join(proc.stdout.splitlines()[-20:])
    if proc.returncode != 0:
        raise CalibrationError(
            f"calibrate exited with status {proc.returncode}: "
            f"{tail.splitlines()[-1] if tail else '(no output)'}",
            cmd, proc.returncode, tail,
        )
    return HostProfile.load(out)
