"""Running `calibrate` as a subprocess and loading what it writes."""

import os
import shutil
import stat
import sys

import pytest

import neardata
from conftest import FIXTURES, REPO


def stand_in(tmp_path, body):
    """A script standing in for the calibrate binary, to test the wrapper's plumbing."""
    p = tmp_path / "calibrate-stand-in"
    p.write_text(f"#!{sys.executable}\nimport sys, shutil\n{body}\n")
    p.chmod(p.stat().st_mode | stat.S_IEXEC)
    return [str(p)]


def test_the_profile_written_is_loaded_and_the_arguments_passed(tmp_path):
    src = FIXTURES / "hosts" / "vm-2cpu-amd-epyc.ron"
    cmd = stand_in(
        tmp_path,
        f"a = sys.argv[1:]\n"
        f"assert a[0] == 'run' and '--quick' in a and '--only' in a, a\n"
        f"shutil.copy({str(src)!r}, a[a.index('--out') + 1])",
    )
    host = neardata.calibrate(tmp_path / "host.ron", command=cmd, extra_args=["--only", "tcp"])
    assert host.name == neardata.HostProfile.load(src).name


def test_a_failing_calibration_raises_with_its_output(tmp_path):
    cmd = stand_in(tmp_path, "print('noise: unusable: 3 blocks over a threshold'); sys.exit(1)")
    with pytest.raises(neardata.CalibrationError) as e:
        neardata.calibrate(tmp_path / "host.ron", command=cmd)
    assert e.value.returncode == 1
    assert "noise: unusable" in str(e.value)
    with pytest.raises(neardata.CalibrationError, match="cannot start"):
        neardata.calibrate(tmp_path / "h.ron", command=[str(tmp_path / "no-such-binary")])


def test_a_bad_profile_written_is_a_profile_error(tmp_path):
    cmd = stand_in(tmp_path, "a = sys.argv[1:]\nopen(a[a.index('--out') + 1], 'w').write('(format_version: 1,')")
    with pytest.raises(neardata.ProfileError) as e:
        neardata.calibrate(tmp_path / "host.ron", command=cmd)
    assert e.value.file.endswith("host.ron")


def test_a_real_quick_calibration_when_the_binary_is_built(tmp_path):
    found = [REPO / "target" / p / "calibrate" for p in ("release", "debug")]
    exe = os.environ.get("NEARDATA_CALIBRATE") or shutil.which("calibrate") or next(
        (str(p) for p in found if p.is_file()), None
    )
    if exe is None:
        pytest.skip("no calibrate binary built (cargo build -p calibrate)")
    try:
        host = neardata.calibrate(
            tmp_path / "host.ron", command=exe.split(), extra_args=["--only", "syscall,memcpy"],
            timeout=300,
        )
    except neardata.CalibrationError as e:
        # calibrate refuses to measure on a busy machine and says so: that is its contract.
        if "noise" in e.output or "quiet" in e.output:
            pytest.skip(f"calibrate refused a noisy host: {str(e)[:200]}")
        raise
    assert "tcp" in host.transports
    assert (tmp_path / "host.ron").read_text().startswith("(") or "format_version" in host.to_ron()
