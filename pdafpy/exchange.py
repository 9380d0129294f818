"""Sparse point-to-point exchange of numpy buffers.

Every exchange in pdafpy (ensemble collect and distribute, state halos, observation halos) is a
set of messages between known partners: each rank posts non-blocking receives for the buffers it
expects and non-blocking sends for the buffers it owes, then waits for all of them. Buffers are
contiguous numpy arrays sent with mpi4py's buffer interface: no pickling.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

__all__ = ["exchange", "exchange_counts"]


def exchange(comm: Any, sends: Mapping[int, np.ndarray], recv_sizes: Mapping[int, int],
             dtype: np.dtype | type = np.float64, tag: int = 0) -> dict[int, np.ndarray]:
    """Send ``sends[q]`` to rank ``q`` and receive ``recv_sizes[p]`` items from rank ``p``.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm
        Communicator whose ranks the keys refer to.
    sends : mapping rank -> ndarray
        Buffers to send (made contiguous and cast to ``dtype``). A rank may send to itself.
    recv_sizes : mapping rank -> int
        Number of items expected from each partner; both sides must agree.
    dtype : numpy dtype
        Element type of every buffer.
    tag : int
        MPI tag, to keep concurrent exchanges apart.

    Returns
    -------
    dict rank -> (n,) ndarray
        The received buffers, flat.
    """
    from mpi4py import MPI

    received = {p: np.empty(int(n), dtype=dtype) for p, n in recv_sizes.items()}
    requests = [comm.Irecv(buf, source=p, tag=tag) for p, buf in received.items()]
    outgoing = {q: np.ascontiguousarray(buf, dtype=dtype).ravel() for q, buf in sends.items()}
    requests += [comm.Isend(buf, dest=q, tag=tag) for q, buf in outgoing.items()]
    MPI.Request.Waitall(requests)
    return received


def exchange_counts(comm: Any, send_counts: Mapping[int, int], partners: list[int],
                    tag: int = 1) -> dict[int, int]:
    """Tell each partner how many items it will get; learn the same from the partners.

    ``send_counts`` and ``partners`` must be symmetric between ranks: rank ``p`` is in this rank's
    ``partners`` exactly when this rank is in ``p``'s, and ``send_counts`` has an entry for every
    partner (0 allowed).
    """
    sends = {q: np.array([send_counts[q]], dtype=np.int64) for q in partners}
    got = exchange(comm, sends, {p: 1 for p in partners}, dtype=np.int64, tag=tag)
    return {p: int(v[0]) for p, v in got.items()}
