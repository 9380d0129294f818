"""3D variably saturated subsurface flow (Richards equation) on PETSc, behind pdafpy's Model protocol.

See docs/richards.md. Importing this package does not import petsc4py or mpi4py; the modules that
need them import them when called, so ``pdafpy verify richards`` can launch ``mpirun``
subprocesses before MPI is initialised.
"""

__all__ = ["RichardsModel"]


def __getattr__(name: str):
    if name == "RichardsModel":
        from .model import RichardsModel
        return RichardsModel
    raise AttributeError(name)
