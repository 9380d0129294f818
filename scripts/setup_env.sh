#!/usr/bin/env bash
# Set up everything pdafpy needs on a Debian machine, idempotently:
#   1. Debian packages: PETSc, petsc4py, mpi4py, h5py (MPI build), netCDF4, SciPy, Matplotlib,
#      Open MPI, xarray and dask (open_mfdataset reads segmented outputs as one), hypothesis
#      (the fuzzing tests), pyproj and PROJ's data, and OpenBLAS (libopenblas0-pthread: Debian
#      otherwise gives numpy, SciPy and PETSc the reference BLAS; `import pdafpy` keeps it at one
#      thread per rank) (skipped when all are installed already);
#   2. a virtual environment .venv made with --system-site-packages, so it uses Debian's numpy and
#      the packages compiled against it, holding pytest, pytest-mpi and pdafpy (editable).
# pip never installs or upgrades numpy here: petsc4py and h5py are built against Debian's numpy.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(python3-petsc4py petsc-dev python3-mpi4py python3-h5py-mpi python3-netcdf4
                 python3-scipy python3-matplotlib python3-venv python3-pip openmpi-bin
                 libopenmpi-dev make python3-xarray python3-dask python3-hypothesis python3-pyproj
                 proj-bin libopenblas0-pthread)

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" > /dev/null
fi

if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv (with Debian's site packages)"
    /usr/bin/python3 -m venv --system-site-packages .venv
fi

stamp=.venv/.pdafpy-installed
if [ ! -f "$stamp" ] || [ setup.py -nt "$stamp" ] || [ "$0" -nt "$stamp" ]; then
    echo "setup: installing pytest, pytest-mpi and pdafpy (editable) into .venv"
    numpy_before=$(.venv/bin/python -c "import numpy; print(numpy.__file__)")
    .venv/bin/python -m pip install -q --disable-pip-version-check pytest pytest-mpi
    .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps \
        --no-build-isolation -e .
    numpy_after=$(.venv/bin/python -c "import numpy; print(numpy.__file__)")
    if [ "$numpy_before" != "$numpy_after" ]; then
        echo "setup: pip replaced Debian's numpy ($numpy_after); refusing to go on" >&2
        exit 1
    fi
    touch "$stamp"
fi
