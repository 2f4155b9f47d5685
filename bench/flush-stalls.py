#!/usr/bin/env python3
"""Measures how long small durable appends take on a disk, in two ways:

- `sled`: what sled 0.34's flush does followed by our `fdatasync` (`--durability power-loss`):
  `pwrite` then `sync_file_range(WAIT_BEFORE | WRITE | WAIT_AFTER)` then `fdatasync`;
- `fdatasync`: `pwrite` then `fdatasync` only.

Usage: bench/flush-stalls.py [--secs 40] [--dir /tmp] [--mode sled|fdatasync]
Prints p50, p99, max and the number of appends over 40 ms (the store logs flushes over 50 ms as
`slow store flush`). Linux only.
"""

import argparse
import ctypes
import os
import tempfile
import time

SYNC_FILE_RANGE_WAIT_BEFORE = 1
SYNC_FILE_RANGE_WRITE = 2
SYNC_FILE_RANGE_WAIT_AFTER = 4


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secs", type=float, default=40.0)
    parser.add_argument("--dir", default=tempfile.gettempdir())
    parser.add_argument("--mode", choices=["sled", "fdatasync"], default="sled")
    parser.add_argument("--bytes", type=int, default=300, help="bytes per append")
    parser.add_argument("--interval-ms", type=float, default=20.0, help="pause between appends")
    args = parser.parse_args()

    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.sync_file_range.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    flags = SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER

    with tempfile.NamedTemporaryFile(dir=args.dir, prefix="flush-stalls.") as file:
        fd = file.fileno()
        data = b"x" * args.bytes
        offset = 0
        times = []
        end = time.monotonic() + args.secs
        while time.monotonic() < end:
            started = time.perf_counter()
            os.pwrite(fd, data, offset)
            if args.mode == "sled":
                if libc.sync_file_range(fd, offset, len(data), flags) != 0:
                    raise OSError(ctypes.get_errno(), "sync_file_range")
            os.fdatasync(fd)
            times.append((time.perf_counter() - started) * 1000.0)
            offset += len(data)
            time.sleep(args.interval_ms / 1000.0)

    times.sort()
    n = len(times)
    print(
        f"mode={args.mode} dir={args.dir} appends={n} p50_ms={times[n // 2]:.2f} "
        f"p99_ms={times[int(n * 0.99)]:.2f} max_ms={times[-1]:.1f} "
        f"over_40ms={sum(1 for t in times if t > 40.0)}"
    )


if __name__ == "__main__":
    main()
