"""Runs the MOFSimBench protocols end to end through the engine protocol with a real model and prints a table
against the DFT references (the protocols' acceptance run on CPU). Slow by design: full protocols, no loosened criteria,
except the stability run which is shortened (`--npt-steps`, default 200).

    ../../.venv/bin/python tools/protocol_check.py [--model sevennet_prod] [--only optimization,bulk_modulus,...]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENGINE_DIR = Path(__file__).resolve().parents[1]
DATA = ENGINE_DIR.parents[1] / "data" / "mofsimbench" / "structures"

CASES = [
    ("optimization", DATA / "main_set" / "calf.cif", {}),
    ("optimization", DATA / "main_set" / "LTA.cif", {}),
    ("bulk_modulus", DATA / "main_set" / "calf.cif", {}),
    ("heat_capacity", DATA / "hcmof" / "RSM0010.cif", {}),
    ("stability", DATA / "main_set" / "calf.cif", {"nvt_steps": 100, "npt_steps": 200, "checkpoint_interval": 100}),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="sevennet_prod")
    ap.add_argument("--only", default="")
    ap.add_argument("--npt-steps", type=int, default=200)
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))
    proc = subprocess.Popen([sys.executable, "-m", "mofsim_engine"], cwd=ENGINE_DIR, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, bufsize=1)
    hello = json.loads(proc.stdout.readline())
    print(f"engine {hello['engine_version']} on {hello['device']}, packages {hello['packages']}", flush=True)
    rows = []
    for i, (task, path, params) in enumerate(CASES):
        if only and task not in only:
            continue
        if task == "stability":
            params = {**params, "npt_steps": args.npt_steps}
        work = tempfile.mkdtemp(prefix=f"check-{task}-")
        req = {"id": str(i), "op": "run", "job_id": f"check-{i}", "task_type": task, "model": args.model,
               "structure_path": str(path), "params": params, "work_dir": work}
        t0 = time.time()
        proc.stdin.write(json.dumps(req) + "\n")
        while True:
            msg = json.loads(proc.stdout.readline())
            if msg.get("type") == "event" and msg.get("event") == "progress":
                d = msg["data"]
                print(f"\r  {task} {path.stem}: {d.get('stage', '')} step {d.get('step')} {d.get('progress', 0):.0f}%   ",
                      end="", flush=True)
            if msg.get("type") == "response":
                break
        dt = time.time() - t0
        print()
        if not msg["ok"]:
            rows.append((task, path.stem, f"ERROR {msg['error']['code']}: {msg['error']['message']}", dt))
            continue
        r = msg["data"]
        ref = r.get("reference") or {}
        if task == "optimization":
            s = (f"converged={r['converged']} steps={r['steps']} V={r['final_volume_A3']:.2f} A3 "
                 f"DFT V={ref.get('dft_volume_A3')} -> {ref.get('volume_vs_dft_percent', float('nan')):+.2f} %")
        elif task == "bulk_modulus":
            s = (f"B={r.get('bulk_modulus_GPa')} GPa DFT B={ref.get('dft_bulk_modulus_GPa')} GPa "
                 f"min offset {r.get('minimum_offset_percent')} % status={r.get('status')}")
        elif task == "heat_capacity":
            s = (f"Cv(300K)={r.get('heat_capacity_at_300K')} J/(g K) DFT={ref.get('dft_heat_capacity_at_300K', ref)} "
                 f"imaginary={r.get('imaginary_modes')} status={r.get('status')}")
        else:
            s = (f"stable={r.get('stable')} dV={r.get('volume_change_percent')} % reason={r.get('instability_reason')} "
                 f"steps={r.get('steps_completed')}")
        rows.append((task, path.stem, s, dt))
        print(f"  {task} {path.stem}: {s}  [{dt:.0f} s]", flush=True)
    proc.stdin.close()
    proc.wait(timeout=60)
    print("\nsummary")
    for task, name, s, dt in rows:
        print(f"| {task} | {name} | {s} | {dt:.0f} s |")


if __name__ == "__main__":
    main()
