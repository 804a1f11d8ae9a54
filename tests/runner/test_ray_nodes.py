"""A node lost, not only a worker: the Ray executor on three Ray nodes of this machine
(Ray's own multi-node test cluster, ``ray.cluster_utils.Cluster``: a head and two worker
nodes, each its own raylet and object store; the run's store on the shared path). One
worker node is removed, raylet and all, while the run is going; the run completes on the
survivor with the local executor's cells table."""

from __future__ import annotations

import logging
import threading
import time

import pandas as pd
import pytest

from tests.helpers import write_protocol
from tests.runner.test_ray_executor import _import_ray

# Ray's tests run in a pytest of their own (README's test command: -m ray), never beside
# other test processes: under pytest-xdist a busy second worker made Ray's actor calls time
# out on a 2-core machine (a worker never started, a live one reported dead)
pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def three_nodes():
    """A head that runs no worker (0 CPUs: it hosts the driver, the GCS and the objects
    the driver puts) and two one-CPU worker nodes, so each worker is on its own node."""
    ray = _import_ray()
    from ray.cluster_utils import Cluster

    if ray.is_initialized():  # another module's cluster: never join it
        ray.shutdown()
    cluster = Cluster()
    cluster.add_node(num_cpus=0, include_dashboard=False)
    workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(
        address=cluster.address,
        log_to_driver=False,
        logging_level=logging.WARNING,
        runtime_env={"env_vars": {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}},
    )
    yield ray, cluster, workers
    ray.shutdown()
    cluster.shutdown()


def _node_of(pid: int, nodes: list) -> object | None:
    """The cluster node whose raylet started process ``pid`` (a worker's parent)."""
    import psutil

    try:
        parent = psutil.Process(pid).ppid()
    except psutil.NoSuchProcess:
        return None
    for node in nodes:
        if any(info.process.pid == parent for info in node.all_processes.get("raylet", [])):
            return node
    return None


def test_a_node_removed_mid_run_completes_on_the_survivor(three_nodes, tmp_path):
    from sine_bench.runner.ray_executor import RayExecutor
    from sine_bench.runner.run import run_protocol

    ray, cluster, workers = three_nodes
    assert ray.cluster_resources()["CPU"] == 2 and len(ray.nodes()) == 3
    (tmp_path / "local").mkdir()
    (tmp_path / "ray").mkdir()
    local = run_protocol(
        write_protocol(tmp_path / "local"), progress=False, threads=1, log=lambda *_: None
    )

    removed: list = []
    stop = threading.Event()

    def remove_a_workers_node(ex) -> None:
        """Once a worker has finished a job (its pid is known), remove its node."""
        while not stop.is_set():
            for pid in ex.worker_pids():
                node = _node_of(pid, workers)
                if node is not None:
                    cluster.remove_node(node, allow_graceful=False)
                    removed.append((pid, node))
                    return
            time.sleep(0.02)

    # A replacement needs a CPU that only the lost node had: it cannot start, so after
    # schedule_timeout its slot is given up and the survivor runs the rest. A stage that
    # starts before Ray marks the node dead still counts its CPU and asks for a worker
    # that can never be placed: its batch is taken back when the survivor is idle.
    with RayExecutor(workers=2, progress=False, log=None, schedule_timeout=5.0) as ex:
        remover = threading.Thread(target=remove_a_workers_node, args=(ex,), daemon=True)
        remover.start()
        try:
            out = run_protocol(
                write_protocol(tmp_path / "ray"),
                executor=ex,
                progress=False,
                threads=1,
                log=lambda *_: None,
            )
        finally:
            stop.set()
            remover.join()
        retried, pids = list(ex.retried), ex.worker_pids()

    assert removed, "no node was removed"
    assert retried, "the lost node's worker ran no job after it was removed"
    # the run finished on the surviving node's worker alone (a worker counts once it ran)
    assert len(pids) == 1 and pids[0] != removed[0][0]
    # the node is gone (Ray itself may not have marked it dead yet: its health checks
    # take seconds, and the run need not wait for them)
    assert not removed[0][1].any_processes_alive()
    pd.testing.assert_frame_equal(pd.read_csv(out / "cells.csv"), pd.read_csv(local / "cells.csv"))
