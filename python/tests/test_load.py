"""Loading and validating host profiles and workloads: errors name the file, field and value."""

import math

import pytest

import neardata
from conftest import FIXTURES


def test_every_bundled_host_and_workload_loads(workloads):
    for p in sorted((FIXTURES / "hosts").glob("*.ron")):
        host = neardata.HostProfile.load(p)
        assert host.name
        assert "tcp" in host.transports
        assert "native" in host.schemes
        assert host.origin == str(p)
    assert {"graph-lookup", "compute-heavy", "fig2-records-sweep"} <= set(workloads)
    assert all(isinstance(w, neardata.Workload) for ws in workloads.values() for w in ws)


def test_nan_in_a_host_profile_names_file_field_and_value():
    text = (FIXTURES / "hosts" / "reference.ron").read_text()
    bad = text.replace("dispatch: (point: 200.0", "dispatch: (point: NaN", 1)
    assert bad != text
    with pytest.raises(neardata.ProfileError) as e:
        neardata.HostProfile.from_ron(bad, "bad-host.ron")
    assert e.value.file == "bad-host.ron"
    assert "dispatch" in e.value.field
    assert e.value.value == "NaN"
    assert "bad-host.ron" in str(e.value)


def test_a_syntax_error_names_the_file_and_line():
    with pytest.raises(neardata.ProfileError) as e:
        neardata.HostProfile.from_ron("(format_version: 1, host: ", "cut.ron")
    assert e.value.file == "cut.ron"
    assert str(e.value).startswith("cut.ron:1:")


def test_a_missing_file_is_an_oserror():
    with pytest.raises(OSError) as e:
        neardata.HostProfile.load(FIXTURES / "hosts" / "no-such-host.ron")
    assert "no-such-host.ron" in str(e.value)


def test_a_negative_workload_field_is_named(graph):
    with pytest.raises(neardata.ProfileError) as e:
        graph.replace(record_bytes=-1.0)
    assert e.value.field.endswith("record_bytes")
    assert e.value.value == "-1"


def test_nan_and_unknown_fields_in_a_workload_are_refused(graph):
    with pytest.raises(neardata.ProfileError) as e:
        graph.replace(records_per_invocation=math.nan)
    assert e.value.field == "records_per_invocation" and e.value.value == "nan"
    d = graph.to_dict()
    d["records_per_call"] = 3
    with pytest.raises(neardata.ProfileError) as e:
        neardata.Workload(d)
    assert e.value.field == "records_per_call"
    d = graph.to_dict()
    del d["record_bytes"]
    with pytest.raises(neardata.ProfileError, match="record_bytes"):
        neardata.Workload(d)


def test_a_bad_workload_file_names_file_and_field(tmp_path):
    text = (FIXTURES / "workloads" / "graph-lookup.ron").read_text()
    p = tmp_path / "bad.ron"
    p.write_text(text.replace("records_per_invocation: 8.0", "records_per_invocation: -8.0"))
    with pytest.raises(neardata.ProfileError) as e:
        neardata.load_workloads(p)
    assert e.value.file == str(p)
    assert "records_per_invocation" in e.value.field
    assert e.value.value == "-8"


def test_workloads_round_trip_through_dicts(graph):
    again = neardata.Workload(graph.to_dict())
    assert again == graph
    assert graph.replace(records_per_invocation=2.0).records_per_invocation == 2.0
    assert graph.records_per_invocation == 8.0


def _with_curve() -> str:
    """The reference profile with a table-size curve over 1, 32 (the probe table) and 128 MB."""
    text = (FIXTURES / "hosts" / "reference.ron").read_text()

    def est(v: float) -> str:
        return (
            f"(point: {v}, lower: {v}, upper: {v}, confidence: 1.0, samples: 0, "
            'source: Literature(citation: "test"))'
        )

    points = ", ".join(
        f"(table_bytes: {mb * 1e6}, in_run: {est(run)}, scattered: {est(sc)})"
        for mb, run, sc in [(1.0, 40.0, 60.0), (32.0, 170.0, 400.0), (128.0, 290.0, 510.0)]
    )
    curve = (
        f'    table_access: Some((probe_table_bytes: 32000000.0, schemes: ["native"], '
        f"points: [{points}])),\n"
    )
    anchor = "    memory_copy:"
    assert anchor in text
    return text.replace(anchor, curve + anchor, 1)


def test_a_profile_moves_to_a_servers_table_size():
    host = neardata.HostProfile.from_ron(_with_curve(), "curve.ron")
    moved = host.at_table(1e6)
    assert "curve.ron" in moved.origin
    # The moved profile still ranks and round-trips through RON.
    again = neardata.HostProfile.from_ron(moved.to_ron(), "moved.ron")
    assert "native" in again.schemes
    assert moved.to_ron() != host.to_ron()


def test_moving_without_a_curve_or_to_a_bad_size_names_the_field():
    plain = neardata.HostProfile.load(FIXTURES / "hosts" / "reference.ron")
    with pytest.raises(neardata.ProfileError) as e:
        plain.at_table(1e6)
    assert "table_access" in e.value.field
    host = neardata.HostProfile.from_ron(_with_curve(), "curve.ron")
    for bad in [0.0, -5.0, math.nan]:
        with pytest.raises(neardata.ProfileError) as e:
            host.at_table(bad)
        assert e.value.field == "table_bytes", bad
