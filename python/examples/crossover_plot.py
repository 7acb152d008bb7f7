"""Inside vs remote: storage CPU per invocation over records per invocation.

A notebook-style walk through the package: load a host profile and a workload, price one
placement inside the storage server and one at a compute node for k = 1..32 records, find the
crossover k*, and plot both curves with matplotlib when it is installed (the table is printed
either way).

    python python/examples/crossover_plot.py [HOST.ron] [--out crossover.png]
"""

import argparse
from pathlib import Path

import neardata

ROOT = Path(__file__).resolve().parents[2]


def sweep(host, workload, inside, remote, ks):
    """Storage and total CPU (us) of each placement at each k."""
    rows = []
    for k in ks:
        w = workload.replace(records_per_invocation=float(k))
        a, b = host.evaluate(w, inside), host.evaluate(w, remote)
        rows.append((k, a.storage_cpu_ns / 1e3, b.storage_cpu_ns / 1e3, a.total_cpu_ns / 1e3, b.total_cpu_ns / 1e3))
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("host", nargs="?", default=str(ROOT / "fixtures/hosts/vm-2cpu-amd-epyc.ron"))
    p.add_argument("--out", default="crossover.png")
    p.add_argument("--scheme", default="wasm")
    p.add_argument("--transport", default="tcp")
    args = p.parse_args(argv)

    # In [1]: the host and the function.
    host = neardata.HostProfile.load(args.host)
    workload = neardata.load_workloads(ROOT / "fixtures/workloads")["fig2-records-sweep"][0]
    inside = neardata.Placement.inside(args.scheme, args.transport)
    remote = neardata.Placement.remote(args.scheme, args.transport)

    # In [2]: the sweep, and where the curves cross.
    ks = list(range(1, 33))
    rows = sweep(host, workload, inside, remote, ks)
    k_star = host.crossover(workload, inside, remote)
    print(f"host {host.name}, workload {workload.id}: {inside} vs {remote}")
    print(f"crossover k* = {k_star:.2f}" if k_star is not None else "inside never wins")
    print(f"{'k':>3} {'inside us':>10} {'remote us':>10}  (storage cpu)")
    for k, a, b, _, _ in rows:
        print(f"{k:>3} {a:>10.2f} {b:>10.2f}  {'inside' if a < b else 'remote'}")

    # In [3]: the plot, when matplotlib is there.
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)")
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(ks, [r[1] for r in rows], marker="o", label=f"inside ({inside})")
    ax.plot(ks, [r[2] for r in rows], marker="s", label=f"remote ({remote})")
    if k_star is not None and k_star <= ks[-1]:
        ax.axvline(k_star, color="grey", linestyle="--", label=f"k* = {k_star:.1f}")
    ax.set_xlabel("records per invocation")
    ax.set_ylabel("storage-server CPU per invocation (us)")
    ax.set_title(f"{workload.id} on {host.name}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")
    return args.out


if __name__ == "__main__":
    main()
