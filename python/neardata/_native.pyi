"""Type stubs of the compiled extension ``neardata._native`` (see ``python/src/lib.rs``).

The extension speaks JSON text; :mod:`neardata` wraps it in plain Python objects. Errors are
:class:`neardata.ProfileError` (bad values, naming file, field and value) and :class:`OSError`.
"""

from typing import List, Optional, Tuple

_PlacementTuple = Tuple[str, str, str, int, int, int]

class Host:
    """A validated host profile and its cost model."""

    @staticmethod
    def load(path: str) -> "Host": ...
    @staticmethod
    def from_ron(text: str, origin: str = "<string>") -> "Host": ...
    @property
    def name(self) -> str: ...
    @property
    def origin(self) -> str: ...
    def scheme_ids(self) -> List[str]: ...
    def transport_ids(self) -> List[str]: ...
    def at_table(self, table_bytes: float) -> "Host": ...
    def to_ron(self) -> str: ...
    def default_candidates_json(self) -> str: ...
    def evaluate_json(
        self,
        workload: str,
        placement: _PlacementTuple,
        warm_hit: float,
        utilisation: float,
        server: Tuple[float, float, Optional[float]],
    ) -> str: ...
    def rank_json(
        self,
        workload: str,
        candidates: Optional[List[_PlacementTuple]],
        free_cores: List[float],
        data_node: int,
        utilisation: float,
        warm_hit: float,
        server: Tuple[float, float, Optional[float]],
        objective: str,
        explain: bool,
    ) -> str: ...
    def crossover(
        self,
        workload: str,
        inside: _PlacementTuple,
        remote: _PlacementTuple,
        warm_hit: float,
        utilisation: float,
        server: Tuple[float, float, Optional[float]],
    ) -> Optional[float]: ...
    def advise_json(
        self,
        workload: str,
        arrivals: List[float],
        scheme: str,
        transport: str,
        start: str,
        objective: str,
        config: Optional[str],
    ) -> str: ...

def load_workloads_json(path: str) -> str: ...
def workloads_from_ron_json(text: str, origin: str = "<string>") -> str: ...
def check_workload_json(text: str, origin: str = "workload") -> str: ...
def provision_json(
    machines: List[Tuple[int, int, int]], demands: List[Tuple[int, int, int]]
) -> str: ...
