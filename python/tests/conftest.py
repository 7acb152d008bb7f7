"""Shared fixtures: the repository's bundled host profiles and workloads."""

from pathlib import Path

import pytest

import neardata

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures"


@pytest.fixture(scope="session")
def reference() -> neardata.HostProfile:
    return neardata.HostProfile.load(FIXTURES / "hosts" / "reference.ron")


@pytest.fixture(scope="session")
def workloads() -> dict:
    return neardata.load_workloads(FIXTURES / "workloads")


@pytest.fixture(scope="session")
def graph(workloads) -> neardata.Workload:
    return next(w for w in workloads["graph-lookup"] if w.id == "graph-4hop")
