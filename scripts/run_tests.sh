#!/usr/bin/env bash
# The test command: serial tests, then the MPI tests under mpirun -n 2 and -n 4 (oversubscribed).
# Fails if any of the three runs fails. Extra arguments go to every pytest run.
set -uo pipefail
cd "$(dirname "$0")/.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
PYTEST=(.venv/bin/python -m pytest -q --color=no -p no:cacheprovider -m "not slow")

status=0
echo "== serial tests"
"${PYTEST[@]}" "$@" tests || status=1
echo "== MPI tests, 2 ranks"
mpirun -n 2 "${PYTEST[@]}" -m "mpi and not slow" --with-mpi "$@" tests || status=1
echo "== MPI tests, 4 ranks (oversubscribed)"
mpirun -n 4 --oversubscribe "${PYTEST[@]}" -m "mpi and not slow" --with-mpi "$@" tests || status=1
[ $status -eq 0 ] || echo "TESTS FAILED: see the runs above"
exit $status
