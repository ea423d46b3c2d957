"""Running the benchmark's tasks a few at a time (threads that wait on cjxl/djxl subprocesses)."""

from __future__ import annotations

import concurrent.futures

__all__ = ["run_pool"]


def run_pool(jobs: int, tasks: list, label: str):
    """Runs ``(key, fn, args)`` tasks, ``jobs`` at once; yields ``(key, result)`` as they end."""
    from tqdm import tqdm

    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        futures = {pool.submit(fn, *args): key for key, fn, args in tasks}
        for future in tqdm(
            concurrent.futures.as_completed(futures),
            total=len(futures),
            desc=label,
            unit="file",
            dynamic_ncols=True,
            disable=not futures,
        ):
            yield futures[future], future.result()
