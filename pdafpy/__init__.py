"""pdafpy: MPI-parallel ensemble data assimilation in the manner of PDAF.

Importing pdafpy asks BLAS and OpenMP for one thread per MPI rank (unless the environment already
chose), before numpy loads its BLAS: small batched LAPACK calls run about twice as slow with
OpenBLAS threads on a 2-core machine. See :func:`pdafpy.parallel.limit_threads`.
"""

from .parallel import limit_threads

limit_threads()

from .errors import ConfigError, InputFileError, LayoutError, ModelError, PdafpyError  # noqa: E402

__version__ = "0.1.0"
__all__ = ["PdafpyError", "ConfigError", "LayoutError", "InputFileError", "ModelError",
           "__version__"]
