"""``tf.distribute`` strategies for training: one device, several replicas on one machine
(MirroredStrategy) or several machines (MultiWorkerMirroredStrategy, configured by TF_CONFIG).

On a CPU-only machine ``mirrored`` splits the CPU into N logical devices; that must happen
before TensorFlow initialises its devices, so call ``make_strategy`` (or
``configure_logical_cpus``) before any other TensorFlow work in the process.
"""
from __future__ import annotations

import json
import logging
import os

log = logging.getLogger(__name__)

STRATEGIES = ("default", "mirrored", "multiworker")


def configure_logical_cpus(n: int) -> list:
    """Make at least ``n`` logical CPU devices available and return them.

    Raises:
        ValueError: ``n`` < 1.
        RuntimeError: TensorFlow already initialised its devices with fewer logical CPUs.
    """
    import tensorflow as tf

    if n < 1:
        raise ValueError(f"need at least one device, got {n}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    configured = tf.config.get_logical_device_configuration(cpu)
    if n > 1 and (configured is None or len(configured) < n):
        try:
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)])
        except RuntimeError:
            have = len(tf.config.list_logical_devices("CPU"))
            if have < n:
                raise RuntimeError(
                    f"cannot split the CPU into {n} logical devices: TensorFlow is already initialised with {have}. "
                    "Create the strategy before any other TensorFlow work in the process "
                    "(or call converter.distribute.configure_logical_cpus first)."
                ) from None
    return tf.config.list_logical_devices("CPU")[:n]


def read_tf_config() -> dict:
    """The parsed ``TF_CONFIG`` environment variable of a multi-worker job.

    Raises:
        ValueError: TF_CONFIG is missing, not JSON, or lacks ``cluster`` / ``task``.
    """
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise ValueError("strategy 'multiworker' needs the TF_CONFIG environment variable (see docs/TRAINING.md)")
    try:
        conf = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"TF_CONFIG is not valid JSON ({exc}): {raw!r}") from None
    if not isinstance(conf, dict) or "cluster" not in conf or "task" not in conf:
        raise ValueError(f"TF_CONFIG needs 'cluster' and 'task' entries, got {raw!r}")
    task = conf["task"]
    if task.get("type") not in conf["cluster"] or not 0 <= int(task.get("index", -1)) < len(conf["cluster"][task["type"]]):
        raise ValueError(f"TF_CONFIG task {task!r} is not in its cluster {conf['cluster']!r}")
    return conf


def make_strategy(name: str = "default", replicas: int = 1):
    """A ``tf.distribute.Strategy``.

    Args:
        name: ``"default"`` (no distribution, one device), ``"mirrored"`` (``replicas`` copies
            on this machine: its GPUs if it has enough, else logical CPU devices) or
            ``"multiworker"`` (one replica per machine listed in TF_CONFIG).
        replicas: number of replicas for ``"mirrored"``; must be 1 otherwise.

    Raises:
        ValueError: unknown name, bad replica count, or a missing/malformed TF_CONFIG.
        RuntimeError: logical CPU devices can no longer be configured.
    """
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    if not isinstance(replicas, int) or replicas < 1:
        raise ValueError(f"replicas must be an integer >= 1, got {replicas!r}")
    if name != "mirrored" and replicas != 1:
        raise ValueError(f"strategy {name!r} runs one replica (per worker), got replicas={replicas}; use strategy 'mirrored'")
    if name == "multiworker":
        read_tf_config()
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) >= replicas:
        devices = [f"/gpu:{i}" for i in range(replicas)]
    else:
        devices = [d.name for d in configure_logical_cpus(replicas)]
    log.info("MirroredStrategy over %s", devices)
    return tf.distribute.MirroredStrategy(devices, cross_device_ops=tf.distribute.ReductionToOneDevice())


def worker_role(strategy) -> tuple[bool, str]:
    """(is_chief, label) of this process in a multi-worker job; (True, "chief") otherwise.

    The chief is TF_CONFIG's ``chief`` task or, without one, ``worker`` 0. Only the chief
    writes the run's files; the other workers keep their own checkpoints under a label.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    if task_type is None:
        return True, "chief"
    task_id = int(resolver.task_id or 0)
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    chief = task_type == "chief" or (not has_chief and task_type == "worker" and task_id == 0)
    return chief, f"{task_type}{task_id}"
