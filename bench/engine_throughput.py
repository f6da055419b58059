#!/usr/bin/env python
"""Engine throughput: N concurrent jobs on one loaded model, batched vs the per-model-lock path, in one run.

Each job is a thread with its own JobCalculator (exactly what the engine gives a `run`), doing `--steps` model
evaluations: single points on freshly rattled copies of the structure (`--task sp`), or steps of a short
LBFGS + FrechetCellFilter optimization (`--task opt`). For every N in `--concurrency` the same work runs twice:
with the batcher (concurrent calls merged into one forward pass) and with batching off (each call runs alone
under the model lock — the engine before the batcher). Throughput is structure-evaluations per second; the table
gives the batched/lock ratio per N and each path's N-job/1-job ratio. Ratios, not absolute times, are the result
(the machine's load changes absolute numbers). `cpu_s_per_eval` (this process's CPU time per evaluation, all
threads) is printed too: on a shared CPU it is steadier than wall time, and it shows the cost per structure of a
batched forward pass independently of how many cores were free.

    .venv/bin/python bench/engine_throughput.py                       # CPU, sevennet_prod, calf, N = 1 2 4 8
    .venv/bin/python bench/engine_throughput.py --device cuda --concurrency 1 2 4 8 16 32 64 --steps 20
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import threading
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workers" / "engine"))

# Every evaluation gets a geometry never seen before: the loaded ASE calculators keep the last result and would
# answer a repeated geometry from their cache without running the model.
_seeds = itertools.count(1)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="sevennet_prod", help="model id (default sevennet_prod)")
    p.add_argument("--structure", default=str(REPO / "data/mofsimbench/structures/main_set/calf.cif"),
                   help="structure file (default: MOFSimBench calf, 44 atoms)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:0 (default cpu)")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4, 8], help="N concurrent jobs")
    p.add_argument("--steps", type=int, default=3, help="model evaluations per job (default 3)")
    p.add_argument("--task", choices=("sp", "opt"), default="sp", help="single points or optimization steps")
    p.add_argument("--max-wait-ms", type=float, default=5.0, help="batcher wait window (default 5 ms)")
    p.add_argument("--max-batch-atoms", type=int, default=None,
                   help="batcher atom budget (default: the engine's, i.e. MOFSIM_BATCH_MAX_ATOMS or derived)")
    p.add_argument("--json", help="also write the results to this JSON file")
    return p.parse_args(argv)


def run_jobs(cache, model_id: str, atoms, n_jobs: int, steps: int, task: str) -> tuple[float, dict]:
    """n_jobs threads × steps evaluations; returns (wall seconds, batcher stats delta)."""
    from ase.filters import FrechetCellFilter
    from ase.optimize import LBFGS

    lm = cache.get(model_id)
    before = lm.batcher.stats()
    calcs = [cache.job_calculator(model_id) for _ in range(n_jobs)]
    start = threading.Barrier(n_jobs + 1)
    errors: list[BaseException] = []
    seeds = [[next(_seeds) for _ in range(steps)] for _ in range(n_jobs)]

    def job(j: int) -> None:
        try:
            a = atoms.copy()
            a.calc = calcs[j]
            start.wait()
            if task == "sp":
                for k in range(steps):
                    b = atoms.copy()
                    b.rattle(0.01, seed=seeds[j][k])
                    b.calc = calcs[j]
                    b.get_forces()
            else:
                a.rattle(0.01, seed=seeds[j][0])
                opt = LBFGS(FrechetCellFilter(a), logfile=None)
                for _ in opt.irun(fmax=1e-6, steps=steps - 1):  # steps evaluations incl. the initial one
                    pass
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=job, args=(j,)) for j in range(n_jobs)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    c0 = time.process_time()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    for c in calcs:
        c.release()
    if errors:
        raise errors[0]
    after = lm.batcher.stats()
    batches = after["batches"] - before["batches"]
    requests = after["requests"] - before["requests"]
    return wall, {"cpu_s_per_eval": round(cpu / max(1, n_jobs * steps), 4), "batches": batches, "requests": requests,
                  "mean_batch_size": round(requests / batches, 2) if batches else None}


def main(argv=None) -> int:
    args = parse_args(argv)
    import ase.io
    import torch

    from mofsim_engine.cache import ModelCache

    # FrechetCellFilter's logm near the identity; harmless, and it would flood the output.
    warnings.filterwarnings("ignore", message="logm result may be inaccurate")
    atoms = ase.io.read(args.structure)
    info = {"model": args.model, "structure": Path(args.structure).name, "n_atoms": len(atoms),
            "device": args.device, "dtype": args.dtype, "task": args.task, "steps_per_job": args.steps,
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
            "max_wait_ms": args.max_wait_ms}
    if args.device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(torch.device(args.device))
    rows = []
    caches = {mode: ModelCache(args.device, args.dtype, batching=(mode == "batched"),
                               max_wait_s=args.max_wait_ms / 1000.0, max_batch_atoms=args.max_batch_atoms)
              for mode in ("lock", "batched")}
    info["max_batch_atoms"] = caches["batched"].get(args.model).batcher.max_batch_atoms
    print(json.dumps(info), flush=True)
    for mode, cache in caches.items():  # load + warm up (first calls allocate, JIT, build D3 tables)
        t0 = time.perf_counter()
        run_jobs(cache, args.model, atoms, 1, 1, "sp")
        run_jobs(cache, args.model, atoms, 2, 1, "sp")
        print(f"# {mode}: load + warm-up {time.perf_counter() - t0:.1f} s", flush=True)

    def sync():
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    for n in args.concurrency:
        row = {"n_jobs": n}
        for mode in ("lock", "batched"):  # same N back to back, so both see the same machine load
            sync()
            wall, st = run_jobs(caches[mode], args.model, atoms, n, args.steps, args.task)
            sync()
            row[mode] = {"wall_s": round(wall, 3), "evals_per_s": round(n * args.steps / wall, 4), **st}
        row["batched_over_lock"] = round(row["batched"]["evals_per_s"] / row["lock"]["evals_per_s"], 3)
        rows.append(row)
        print(json.dumps(row), flush=True)

    base = {m: rows[0][m]["evals_per_s"] for m in ("lock", "batched")} if rows and rows[0]["n_jobs"] == 1 else None
    print()
    print(f"{args.model} on {info['structure']} ({len(atoms)} atoms), {args.device}, task={args.task}, "
          f"{args.steps} evaluations per job; structure-evaluations per second")
    print(f"{'N jobs':>6} | {'lock':>9} | {'batched':>9} | {'batched/lock':>12} | {'lock N/1':>8} | "
          f"{'batched N/1':>11} | {'mean batch':>10} | {'CPU s/eval lock':>15} | {'batched':>7}")
    for r in rows:
        lk, bt = r["lock"]["evals_per_s"], r["batched"]["evals_per_s"]
        n1l = f"{lk / base['lock']:.2f}" if base else "-"
        n1b = f"{bt / base['batched']:.2f}" if base else "-"
        print(f"{r['n_jobs']:>6} | {lk:>9.3f} | {bt:>9.3f} | {r['batched_over_lock']:>12.2f} | {n1l:>8} | "
              f"{n1b:>11} | {r['batched']['mean_batch_size'] or 0:>10.2f} | "
              f"{r['lock']['cpu_s_per_eval']:>15.3f} | {r['batched']['cpu_s_per_eval']:>7.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"info": info, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
