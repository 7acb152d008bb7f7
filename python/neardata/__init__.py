"""Near-data placement of serverless functions, from Python.

Should a function run inside the storage server that holds its data, or on a compute node that
fetches the data over the network, and under which isolation scheme? This package is the Rust
cost model (``costmodel``) and solver (``solver``) of this repository, compiled with PyO3.
Results are plain Python objects; a :class:`Ranking` converts to records for pandas.

Examples
--------
>>> import neardata
>>> host = neardata.HostProfile.load("fixtures/hosts/reference.ron")  # doctest: +SKIP
>>> w = neardata.load_workloads("fixtures/workloads")["graph-lookup"][0]  # doctest: +SKIP
>>> ranking = host.rank(w)  # doctest: +SKIP
>>> print(ranking.explain(1))  # doctest: +SKIP
"""

from .errors import CalibrationError, ProfileError
from .host import Advice, HostProfile, Provisioning, Resources, calibrate, provision
from .model import (
    OBJECTIVES,
    Cost,
    Placement,
    Ranked,
    Ranking,
    Term,
    Workload,
    load_workloads,
    workloads_from_ron,
)

__all__ = [
    "OBJECTIVES",
    "Advice",
    "CalibrationError",
    "Cost",
    "HostProfile",
    "Placement",
    "ProfileError",
    "Provisioning",
    "Ranked",
    "Ranking",
    "Resources",
    "Term",
    "Workload",
    "calibrate",
    "load_workloads",
    "provision",
    "workloads_from_ron",
]
