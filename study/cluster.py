"""Batch gating on a Dask cluster (the optional ``cluster`` extra; not in the standalone bundle).

``--scheduler local`` starts a ``LocalCluster`` on this machine (no dashboard); any other value is
the address of a running scheduler (``tcp://HOST:8786``) whose workers can read the FCS files at
the same paths (a shared folder). The work itself is :func:`gating.batch.gate_batch`, given the
cluster's ``concurrent.futures`` executor, so results equal those of local processes.
"""
from __future__ import annotations

import contextlib
from concurrent.futures import Executor
from typing import Iterator

__all__ = ["ClusterUnavailable", "dask_executor"]

INSTALL_HINT = 'install the cluster extra: pip install -e ".[cluster]"'


class ClusterUnavailable(RuntimeError):
    """Dask is not installed, or the scheduler cannot be reached."""


@contextlib.contextmanager
def dask_executor(scheduler: str, *, workers: int = 2) -> Iterator[Executor]:
    """An executor running on ``scheduler`` ("local" or an address), closed on exit."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ClusterUnavailable(f"--scheduler needs Dask distributed ({INSTALL_HINT})") from None
    cluster = None
    try:
        if scheduler == "local":
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = Client(cluster)
        else:
            client = Client(scheduler, timeout="10s")
    except OSError as exc:  # also asyncio/comm timeouts, which subclass OSError
        if cluster is not None:
            cluster.close()
        raise ClusterUnavailable(f"cannot reach the Dask scheduler {scheduler!r} ({exc})") from None
    try:
        yield client.get_executor()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
