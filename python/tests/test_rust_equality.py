"""The Python ranking equals the Rust solver's on every bundled host and workload.

The Rust side is `placementd/examples/rank_fixtures.rs`, which ranks with the solver directly
(no Python, no JSON in between) and prints JSON; this test ranks the same inputs through the
package and compares order, scores and reasons.
"""

import json
import os
import shutil
import subprocess

import pytest

import neardata
from conftest import FIXTURES, REPO


def rust_rankings():
    cargo = shutil.which("cargo")
    if cargo is None:
        pytest.skip("cargo is not installed: cannot build the Rust reference ranking")
    proc = subprocess.run(
        [cargo, "run", "--quiet", "-p", "placementd", "--example", "rank_fixtures", "--", str(FIXTURES)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=1800,
        env={**os.environ, "CARGO_TERM_COLOR": "never"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_python_ranking_equals_rust_ranking_on_the_bundled_fixtures():
    expected = rust_rankings()
    workloads = neardata.load_workloads(FIXTURES / "workloads")
    hosts = {}
    assert len(expected) >= 3 * 4, "every host x every workload"
    for case in expected:
        host = hosts.setdefault(case["host"], neardata.HostProfile.load(FIXTURES / "hosts" / case["host"]))
        w = next(x for x in workloads[case["file"]] if x.id == case["workload"])
        got = host.rank(w, free_cores=[16.0], data_node=0)
        assert [str(e.placement) for e in got] == [e["placement"] for e in case["ranking"]], case["workload"]
        for g, e in zip(got, case["ranking"]):
            assert g.infeasible == e["infeasible"]
            if e["score"] is None:
                assert g.score is None
            else:
                assert g.score == e["score"], (case["host"], case["workload"], str(g.placement))
