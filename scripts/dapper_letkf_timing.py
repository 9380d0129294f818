"""Time DAPPER's LETKF analysis on data written by bench_l96_letkf.py.

Runs under DAPPER's own interpreter (DAPPER 1.7 needs numpy 2; never install it into pdafpy's
environment). Usage: DAPPER_PYTHON dapper_letkf_timing.py DATA.npz BATCH REPEATS
Prints one line ``RESULT <json>`` with the median seconds per analysis.

One analysis, as DAPPER's ``LETKF.assimilate`` does it per observation time: the localisation
setup (``Obs.localizer``), ``local_analyses`` and ``post_process`` (inflation, rotation).
"""

import json
import sys
import time

import numpy as np

import dapper.mods as modelling
from dapper.da_methods.ensemble import local_analyses, post_process
from dapper.tools.localization import nd_Id_localization


def main():
    data = np.load(sys.argv[1])
    batch = int(sys.argv[2])
    repeats = int(sys.argv[3])
    ens0, y = data["ens"], data["y"]
    n_vars = ens0.shape[1]
    spec = modelling.partial_Id_Obs(n_vars, np.arange(n_vars))
    spec["noise"] = 1
    spec["localizer"] = nd_Id_localization((n_vars,), (batch,))
    obs = modelling.TimeDependentOperator(**spec)(0)
    seconds = []
    for _ in range(repeats):
        ens = ens0.copy()
        t0 = time.perf_counter()
        state_batches, taper = obs.localizer(float(data["radius"]), "x2y", "GC")
        ens, _ = local_analyses(ens, obs(ens), obs.noise.C, y, state_batches, taper, map)
        ens = post_process(ens, float(data["infl"]), False)
        seconds.append(time.perf_counter() - t0)
    print("RESULT " + json.dumps({"batch": batch, "seconds": float(np.median(seconds)),
                                  "mean_analysis": ens.mean(axis=0).tolist()}))


if __name__ == "__main__":
    main()
