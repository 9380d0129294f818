"""pdafpy's LETKF against DAPPER's on Lorenz-96 with 1000 variables (analysis seconds per cycle).

Setting: 1000 variables, F = 8, 32 members, every variable observed with R = I, Gaspari-Cohn taper
of DAPPER radius 4 (half-width 1.82 r, zero beyond 3.64 r = 14.56 grid points; pdafpy
``cradius = sradius = 14.56``, ``locweight = 2``) on the periodic ring, inflation 1.04. One core,
one BLAS thread. The ensemble and observations come from a spun-up twin run and are identical for
both codes.

pdafpy analyses one local domain per variable. DAPPER is timed twice: with its usual pairs of
neighbouring variables per local domain (``nd_Id_localization((Nx,), (2,))``, as in its Lorenz-96
settings) and with one variable per domain like pdafpy. One pdafpy analysis = building the
observation set, the KD-tree local search and the batched LETKF transform and inflation; one DAPPER
analysis = ``Obs.localizer``, ``local_analyses`` and ``post_process``.

DAPPER runs under its own interpreter (DAPPER 1.7.1 needs numpy 2 and scipy >= 1.14, so never
pdafpy's): ``--dapper-python`` or the environment variable ``PDAFPY_DAPPER_PYTHON``, or else the
virtual environment ``--dapper-env`` (default ``.dapper-venv`` in the repository, ignored by git),
which the script makes with ``python3 -m venv`` and ``pip install dapper==1.7.1`` from the
package index when it is absent (about 30 s). ``--no-dapper`` skips the comparison.

Usage::

    python scripts/bench_l96_letkf.py --json out/bench_l96_letkf.json \\
        [--dapper-python /opt/dapper-venv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from models.lorenz96 import rk4_step
from pdafpy.atomic import write_json
from pdafpy.filters import AnalysisInputs, make_filter
from pdafpy.halo import local_observations
from pdafpy.inflation import inflate
from pdafpy.localize import Localization
from pdafpy.obs.types import ObservationSet

N_VARS, N_MEMBERS, DAPPER_RADIUS, INFL = 1000, 32, 4.0, 1.04
DAPPER_VERSION = "1.7.1"
REPO = Path(__file__).resolve().parent.parent


def twin_state(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A forecast ensemble and observations from a spun-up twin (ETKF-free: free ensemble)."""
    rng = np.random.default_rng(seed)
    truth = 8.0 + rng.normal(size=N_VARS)
    for _ in range(400):
        truth = rk4_step(truth, 0.05)
    ens = truth + 0.5 * rng.normal(size=(N_MEMBERS, N_VARS))
    for _ in range(4):
        truth = rk4_step(truth, 0.05)
        ens = rk4_step(ens, 0.05)
    return ens, truth + rng.normal(size=N_VARS)


def dapper_python(env: Path) -> str | None:
    """The interpreter of ``env`` with DAPPER 1.7.1, the environment made first when absent;
    None (with the reason printed) where it cannot be made."""
    python = env / "bin" / "python"
    check = [str(python), "-c", f"import dapper; assert dapper.__version__ == '{DAPPER_VERSION}'"]
    if python.is_file() and subprocess.run(check, capture_output=True).returncode == 0:
        return str(python)
    print(f"making {env} with dapper=={DAPPER_VERSION} (pip, from the package index)", flush=True)
    base = "/usr/bin/python3" if Path("/usr/bin/python3").is_file() else sys.executable
    for cmd in ([base, "-m", "venv", str(env)],
                [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                 f"dapper=={DAPPER_VERSION}"]):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            print(f"cannot make the DAPPER environment: {' '.join(cmd)}: "
                  f"{proc.stderr.strip()[-300:]}")
            return None
    return str(python)


def pdafpy_analysis(ens: np.ndarray, y: np.ndarray, filt, loc: Localization) -> None:
    coords = np.column_stack([np.arange(N_VARS, dtype=float), np.zeros(N_VARS)])
    obs = ObservationSet(y, np.ones(N_VARS), coords, ens.copy(), np.arange(N_VARS),
                         np.zeros(N_VARS, dtype=np.int64))
    local = local_observations(obs, coords, [loc])
    filt.analyse(ens, AnalysisInputs(owned=obs, state_index=np.arange(N_VARS).reshape(-1, 1),
                                     domain_coords=coords, local=local, localizations=[loc]))
    inflate(ens, INFL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--dapper-python", default=os.environ.get("PDAFPY_DAPPER_PYTHON"),
                        help="an interpreter with DAPPER 1.7.1")
    parser.add_argument("--dapper-env", type=Path, default=REPO / ".dapper-venv",
                        help="without --dapper-python: the virtual environment made for DAPPER "
                        "when absent (default .dapper-venv)")
    parser.add_argument("--no-dapper", action="store_true", help="time pdafpy alone")
    args = parser.parse_args()
    if not args.no_dapper and not args.dapper_python:
        args.dapper_python = dapper_python(args.dapper_env)
    ens0, y = twin_state()
    radius = 3.64 * DAPPER_RADIUS
    loc = Localization.from_pdaf(radius, radius, 2, 1, (N_VARS, 0.0))
    filt = make_filter("letkf")
    seconds = []
    for _ in range(args.repeats):
        ens = ens0.copy()
        t0 = time.perf_counter()
        pdafpy_analysis(ens, y, filt, loc)
        seconds.append(time.perf_counter() - t0)
    records = [{"code": "pdafpy", "domain": "1 variable", "seconds": float(np.median(seconds)),
                "variables": N_VARS, "members": N_MEMBERS}]
    print(f"{'code':8s} {'local domain':14s} {'ms/analysis':>12s} {'pdafpy speed-up':>16s}")
    print(f"{'pdafpy':8s} {'1 variable':14s} {1e3 * records[0]['seconds']:12.1f}")
    if not args.dapper_python:
        print("DAPPER comparison skipped (--no-dapper, or its environment could not be made)")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "l96.npz"
            np.savez(data, ens=ens0, y=y, radius=DAPPER_RADIUS, infl=INFL)
            script = Path(__file__).with_name("dapper_letkf_timing.py")
            for batch, label in ((2, "2 variables"), (1, "1 variable")):
                env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
                           PYTHONPATH="")
                proc = subprocess.run([args.dapper_python, str(script), str(data), str(batch),
                                       str(max(3, args.repeats // 4))],
                                      capture_output=True, text=True, env=env)
                line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
                if proc.returncode or not line:
                    print(f"DAPPER run failed: {proc.stderr.strip()[-500:]}")
                    continue
                rec = json.loads(line[0][len("RESULT "):])
                mean_dapper = np.array(rec.pop("mean_analysis"))
                rec.update(code="DAPPER", domain=label)
                if batch == 1:      # same domains and taper: the analyses must agree
                    ens = ens0.copy()
                    pdafpy_analysis(ens, y, filt, loc)
                    rec["max_abs_diff_mean"] = float(np.max(np.abs(ens.mean(0) - mean_dapper)))
                records.append(rec)
                print(f"{'DAPPER':8s} {label:14s} {1e3 * rec['seconds']:12.1f} "
                      f"{rec['seconds'] / records[0]['seconds']:15.1f}x"
                      + (f"   (ensemble means differ by {rec['max_abs_diff_mean']:.1e})"
                         if "max_abs_diff_mean" in rec else ""))
    if args.json:
        write_json(args.json, records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
