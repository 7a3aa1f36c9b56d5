"""Long runs of the filter through its public API: nothing lost, memory flat.

    python -m benchmarks.soak [--samples 10000000] [--block 250] [--json out.json]
    python -m benchmarks.soak --threaded [--samples 1000000]

Soak (default): real HAPT recordings of the held-out users (3, 4, 15, 20) played in a loop
with continuous timestamps, pushed in blocks of ``--block`` samples (250 = 5 s, a batched
sensor delivery; the detector then classifies 10 windows per call), the bundled detector on
(hide WALKING_UPSTAIRS as WALKING); every block is read back through ``on_release``. Reports samples in and out (must be equal), samples replaced,
the resident set size after the first million samples and at the end (growth), and time.

Threaded (``--threaded``): one sensor thread pushing, one UI thread draining the output
queue, one thread flipping a ``ManualSwitch``; checks that the drained timestamps are the
pushed ones: nothing lost, nothing duplicated, order kept.
"""
from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path

import numpy as np

from sdk.filter import FilterOptions, PrivacyFilter, ReleasedBlock
from sdk.generator import Generator
from sdk.recording import read_hapt_raw
from sdk.sensitivity import ManualSwitch

USERS = (3, 4, 15, 20)
BLOCK = 10  # the threaded run's sensor blocks


def rss_mb() -> float:
    """The current resident set size (Linux ``/proc/self/statm``)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def held_out_data(users=USERS) -> np.ndarray:
    """The raw recordings of ``users`` one after the other, (n, 3) in g."""
    from converter.hapt import default_data_dir

    raw = default_data_dir() / "RawData"
    files = sorted(f for u in users for f in raw.glob(f"acc_exp*_user{u:02d}.txt"))
    if not files:
        raise SystemExit(f"no HAPT recordings of users {users} in {raw} (set SENSEGEN_HAPT_DIR)")
    return np.concatenate([read_hapt_raw(f).xyz for f in files])


def soak(n_samples: int, generator: Generator, block: int = 250, progress: bool = True) -> dict:
    from sdk.detector import DetectorSource
    from sdk.policy import Policy

    data = held_out_data()
    detector = DetectorSource(Policy(("WALKING_UPSTAIRS",), "WALKING"))
    counts = {"out": 0, "replaced": 0, "last_t": -1.0, "order_ok": True}

    def on_release(block: ReleasedBlock) -> None:
        counts["order_ok"] &= bool(block.t[0] > counts["last_t"] and np.all(np.diff(block.t) > 0))
        counts["last_t"] = float(block.t[-1])
        counts["out"] += len(block)
        counts["replaced"] += int(block.replaced.sum())

    f = PrivacyFilter(FilterOptions(delay_s=3.0), [detector], generator=generator, on_release=on_release)
    rss_start = rss_mb()
    rss_warm = None
    t0 = time.perf_counter()
    chunk = 100_000
    for start in range(0, n_samples, chunk):
        idx = np.arange(start, min(start + chunk, n_samples))
        t, xyz = idx / 50.0, data[idx % len(data)]
        for i in range(0, len(idx), block):
            f.push_block(t[i : i + block], xyz[i : i + block])
        done = start + len(idx)
        if rss_warm is None and done >= min(1_000_000, n_samples):
            rss_warm = rss_mb()
        if progress and done % 500_000 == 0:
            print(f"{done:>10,d} samples  rss {rss_mb():.1f} MB  {time.perf_counter() - t0:.0f} s", flush=True)
    f.flush()
    status = f.status
    f.close()
    rss_end = rss_mb()
    return {
        "block": block,
        "samples_in": status.samples_in,
        "samples_out": counts["out"],
        "samples_out_status": status.samples_out,
        "equal": status.samples_in == counts["out"] == n_samples,
        "order_kept": counts["order_ok"],
        "samples_replaced": counts["replaced"],
        "segments": status.segments,
        "faults": len(status.faults),
        "windows_classified": detector.windows_classified,
        "rss_start_mb": rss_start,
        "rss_after_1M_mb": rss_warm,
        "rss_end_mb": rss_end,
        "rss_growth_after_1M_mb": rss_end - rss_warm,
        "seconds": time.perf_counter() - t0,
    }


def threaded(n_samples: int, generator: Generator, flip_s: float = 0.05) -> dict:
    """Sensor thread pushing, UI thread draining, a third thread flipping a switch."""
    data = held_out_data((3,))
    t_all = np.arange(n_samples) / 50.0
    switch = ManualSwitch()
    f = PrivacyFilter(FilterOptions(delay_s=1.0, output_queue=2 * n_samples), [switch], generator=generator)
    drained: list[ReleasedBlock] = []
    done = threading.Event()
    flips = [0]

    def sensor():
        for i in range(0, n_samples, BLOCK):
            idx = np.arange(i, min(i + BLOCK, n_samples))
            f.push_block(t_all[idx], data[idx % len(data)])
        f.flush()
        done.set()

    def ui():
        while not done.is_set():
            drained.append(f.drain())
            time.sleep(0.001)
        drained.append(f.drain())

    def flipper():
        k = 0
        while not done.is_set():
            switch.set(k % 5 == 0)  # on about a fifth of the time
            flips[0] += 1
            k += 1
            time.sleep(flip_s)

    threads = [threading.Thread(target=fn) for fn in (sensor, ui, flipper)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    out = ReleasedBlock.concat(drained)
    status = f.status
    return {
        "samples_in": n_samples,
        "samples_out": len(out),
        "exact": bool(len(out) == n_samples and np.array_equal(out.t, t_all)),
        "samples_replaced": int(out.replaced.sum()),
        "segments": status.segments,
        "switch_flips": flips[0],
        "queue_dropped": status.queue_dropped,
        "seconds": time.perf_counter() - t0,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=None, help="default: 10 M (soak), 1 M (threaded)")
    ap.add_argument("--threaded", action="store_true")
    ap.add_argument("--block", type=int, default=250, help="samples per push_block in the soak")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    gen = Generator(num_threads=1)
    if args.threaded:
        res = threaded(args.samples or 1_000_000, gen)
        ok = res["exact"] and res["queue_dropped"] == 0
    else:
        res = soak(args.samples or 10_000_000, gen, args.block)
        ok = res["equal"] and res["order_kept"]
    res["runtime"] = f"{gen.runtime.name} {gen.runtime.version}"
    text = json.dumps(res, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
