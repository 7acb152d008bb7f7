"""evaluate, rank with explain, crossover, the regime advisor and provisioning."""

import math

import pytest

import neardata
from neardata import Placement


def test_evaluate_breaks_the_cost_into_named_terms(reference, graph):
    inside = reference.evaluate(graph, Placement.inside("wasm", "tcp"))
    remote = reference.evaluate(graph, Placement.remote("wasm", "tcp"))
    assert inside.total_cpu_ns == pytest.approx(inside.storage_cpu_ns + inside.compute_cpu_ns)
    storage_terms = sum(t.ns for t in inside.terms if t.axis == "storage_cpu")
    assert storage_terms == pytest.approx(inside.storage_cpu_ns)
    # Eight dependent reads: eight round trips remote, one inside.
    assert remote.term("round trips") > 4 * inside.term("round trips")
    assert "storage cpu" in str(inside)


def test_rank_orders_by_score_and_explains(reference, graph):
    r = reference.rank(graph, storage_utilisation=0.5, objective="pushback")
    assert len(r) == len(reference.default_candidates())
    scores = [e.score for e in r.feasible()]
    assert scores == sorted(scores)
    assert r.best is r[0] and r.best.feasible
    assert r.explain(0).startswith("#1 ")
    assert "vs winner: " in r.explain(1)
    assert r[1].vs_winner, "the runner-up says what puts it behind"
    assert all(e.infeasible for e in r.infeasible())
    # A higher storage utilisation under pushback never moves the winner inside.
    hot = reference.rank(graph, storage_utilisation=0.95, objective="pushback")
    if r.best.placement.regime == "remote":
        assert hot.best.placement.regime == "remote"


def test_a_ranking_converts_to_records_and_columns(reference, graph):
    r = reference.rank(graph)
    records = r.to_records()
    assert len(records) == len(r)
    assert records[0]["rank"] == 1 and records[0]["feasible"] is True
    assert set(records[0]) >= {"placement", "regime", "scheme", "transport", "score", "total_cpu_ns"}
    cols = r.to_dict()
    assert cols["placement"] == [rec["placement"] for rec in records]
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(records)
    assert df["score"].dropna().is_monotonic_increasing


def test_candidates_nodes_and_free_cores_decide_feasibility(reference, graph):
    cands = [Placement.inside("native", "tcp"), Placement.remote("native", "tcp", node=1)]
    r = reference.rank(graph, cands, free_cores=[4.0, 0.0], data_node=0)
    assert [str(e.placement) for e in r] == ["multiplexed/native/tcp", "remote/native/tcp@node1"]
    assert "full" in r[1].infeasible
    r = reference.rank(graph, cands, free_cores=[4.0, 4.0], data_node=1)
    assert r[0].placement.regime == "remote"
    assert "data lives on node1" in r[1].infeasible
    with pytest.raises(neardata.ProfileError) as e:
        reference.rank(graph, cands, free_cores=[4.0])
    assert "node" in str(e.value)
    with pytest.raises(neardata.ProfileError) as e:
        reference.rank(graph, storage_utilisation=1.0)
    assert e.value.field == "state.storage_utilisation"
    with pytest.raises(neardata.ProfileError):
        reference.rank(graph, objective="cheapest")
    with pytest.raises(neardata.ProfileError) as e:
        reference.rank(graph, [Placement.inside("hypervisor9", "tcp")])
    assert e.value.field == "scheme"


def test_inside_wins_storage_cpu_exactly_above_the_crossover(reference, workloads):
    inside, remote = Placement.inside("native", "tcp"), Placement.remote("native", "tcp")
    checked = 0
    for w in (x for ws in workloads.values() for x in ws):
        k = reference.crossover(w, inside, remote)
        if k is None:
            continue
        assert k > 0
        for n in range(0, int(2 * k) + 3):
            at = w.replace(records_per_invocation=float(n))
            a = reference.evaluate(at, inside).storage_cpu_ns
            b = reference.evaluate(at, remote).storage_cpu_ns
            if n > k:
                assert a < b, (w.id, n, k)
            elif n < k:
                assert a >= b, (w.id, n, k)
            checked += 1
    assert checked > 0
    w = workloads["graph-lookup"][0]
    with pytest.raises(neardata.ProfileError):
        reference.crossover(w, remote, inside)


def test_the_advisor_warms_up_then_decides_and_never_flaps(reference, graph):
    windows = [200.0] * 60
    advice = reference.advise(graph, windows, scheme="native", transport="tcp")
    assert len(advice) == 60
    assert advice[0].reason == "Warming"
    switches = [a for a in advice if a.switched]
    assert len(switches) <= 1, [a.switched for a in switches]
    assert advice[-1].rate == pytest.approx(200.0 / 0.01, rel=1e-9)
    with pytest.raises(neardata.ProfileError) as e:
        reference.advise(graph, [1.0, -1.0])
    assert e.value.field == "arrivals"
    with pytest.raises(neardata.ProfileError) as e:
        reference.advise(graph, [1.0], config={"window": 5})
    assert e.value.field == "window"


def test_provisioning_respects_capacities_and_reports_its_gap():
    machines = [(4000, 8 << 30, 1000)] * 10
    demands = [(1500, 1 << 30, 100), (500, 6 << 30, 100), (2500, 1 << 30, 800)] * 4
    p = neardata.provision(machines, demands)
    assert len(p.assignment) == len(demands)
    assert p.unplaced == [] and all(a is not None for a in p.assignment)
    for used in p.used:
        assert used.cpu_millicores <= 4000 and used.memory_bytes <= 8 << 30
    assert p.machines_used >= p.lower_bound >= 1
    assert p.gap == pytest.approx(p.machines_used / p.lower_bound - 1)
    assert math.isfinite(p.gap)


def test_pipelining_and_client_wakeups_are_checked_and_reach_the_model(reference, graph):
    p = Placement.remote("native", "tcp")
    base = reference.evaluate(graph, p)
    # The bundled host's transports have no server terms: the two scalars change nothing...
    same = reference.evaluate(graph, p, requests_per_syscall=16.0, peer_wakeups_per_request=0.0)
    assert same.storage_cpu_ns == pytest.approx(base.storage_cpu_ns)
    # ...while the wake-up sharing they sit beside does.
    shared = reference.evaluate(graph, p, drained_per_wakeup=16.0)
    assert shared.storage_cpu_ns < base.storage_cpu_ns
    with pytest.raises(neardata.ProfileError, match="requests_per_syscall"):
        reference.evaluate(graph, p, requests_per_syscall=0.5)
    with pytest.raises(neardata.ProfileError, match="peer_wakeups_per_request"):
        reference.rank(graph, peer_wakeups_per_request=-1.0)
