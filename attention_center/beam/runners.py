"""Which Beam runner runs a job, and the Dask cluster it runs on: what the Beam commands share.

``attention-center beam`` and ``attention-center ground-truth beam`` take Beam's
``--runner`` plus our Dask flags (:func:`attention_center.core.command_flags.define_dask_flags`):

* :func:`runner_args` resolves the runner: ``--runner dask`` (or ``DaskRunner``, any case)
  is Beam's :data:`DASK_RUNNER`; ``--dask_address`` / ``--dask_workers`` imply it; no
  runner at all is ``FnApiRunner`` (the DirectRunner's engine, without its attempt to
  download Prism). It also imports the Dask runner's module when it is asked for, so its
  pipeline options (``--dask_client_address``, ...) are known before flags are checked.
* :func:`dask_cluster` gives the job a cluster: it checks that ``--dask_address`` answers
  (:class:`~attention_center.core.command_line.UsageError` before any work if not), or
  starts a ``dask.distributed.LocalCluster`` of N worker *processes* on 127.0.0.1 and
  closes it after the job.
* :func:`run_job` runs a pipeline to its end and turns an engine failure during the job
  (a lost scheduler, a task that killed its workers) into :class:`JobFailed` with a
  readable message; it closes the Dask client Beam's runner leaves open.

What Beam 2.77's DaskRunner does differently (checked here, see docs/beam.md): it sends
every tagged output of a ``ParDo`` down every branch, drops what a ``DoFn`` emits in
``finish_bundle`` (so ``BatchElements`` loses each bundle's last batch), evaluates side
inputs apart from the graph and computes only what the last applied transform depends on,
treats ``Reshuffle`` as a no-op (a job's parallelism is the number of partitions of its
``Create``), reports no metrics, and reports success when its client lost the scheduler.
The project's transforms use none of the first three and end in one step that depends on
all others; the listing is split into pieces (:func:`list_shards`) for the fourth;
:func:`attention_center.beam.metrics.counters` says so for the fifth; :func:`run_job`
checks the job's futures for the last.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import logging
from collections.abc import Iterator, Sequence
from typing import Optional

from attention_center.core.command_line import UsageError

__all__ = [
    "DASK_RUNNER",
    "DEFAULT_RUNNER",
    "DaskCluster",
    "connect_timeout_s",
    "JobFailed",
    "dask_cluster",
    "dask_pipeline_args",
    "scheduler_threads",
    "is_dask",
    "list_shards",
    "option_value",
    "run_job",
    "runner_args",
    "runner_of",
]

#: Beam's Dask runner, by the full name Beam's runner lookup needs.
DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"
#: The runner when none is named: the local engine, with no download of Prism.
DEFAULT_RUNNER = "FnApiRunner"
_ALIASES = {"dask": DASK_RUNNER, "daskrunner": DASK_RUNNER}
#: Seconds to wait for ``--dask_address`` to answer (Beam's --dask_connection_timeout wins).
DEFAULT_CONNECT_TIMEOUT_S = 10.0
#: Listing pieces per Dask worker thread when --dask_partitions is 0.
PARTITIONS_PER_THREAD = 4
_INSTALL = 'pip install "attention-center[dask]"'


def _option(args: Sequence[str], name: str) -> tuple[Optional[int], Optional[str]]:
    """``(index, value)`` of the last ``--name VALUE`` / ``--name=VALUE`` in ``args``."""
    found: tuple[Optional[int], Optional[str]] = (None, None)
    for i, arg in enumerate(args):
        if arg == f"--{name}" and i + 1 < len(args):
            found = (i, args[i + 1])
        elif arg.startswith(f"--{name}="):
            found = (i, arg.split("=", 1)[1])
    return found


def option_value(beam_args: Sequence[str], name: str) -> Optional[str]:
    """The value of the last ``--name VALUE`` / ``--name=VALUE`` in Beam's arguments."""
    return _option(list(beam_args), name)[1]


def runner_of(beam_args: Sequence[str]) -> Optional[str]:
    """The ``--runner`` named in Beam's arguments, as given (``None`` if none)."""
    return _option(list(beam_args), "runner")[1]


def is_dask(beam_args: Sequence[str]) -> bool:
    """Whether the arguments name Beam's Dask runner (by any of its names)."""
    runner = runner_of(beam_args)
    return runner is not None and _ALIASES.get(runner.lower(), runner) == DASK_RUNNER


def _import_dask_runner() -> None:
    """Imports Beam's Dask runner (its module registers the ``--dask_*`` pipeline options)."""
    try:
        importlib.import_module("dask.distributed")
        importlib.import_module("apache_beam.runners.dask.dask_runner")
    except ImportError as error:
        raise UsageError(f"--runner dask needs Dask: {_INSTALL} ({error})") from None


def runner_args(
    beam_args: Sequence[str],
    dask_address: Optional[str] = None,
    dask_workers: Optional[int] = None,
) -> list[str]:
    """Beam's arguments with the runner resolved (see the module docstring).

    Args:
      beam_args: the command's Beam pipeline options, e.g. ``["--runner", "dask"]``.
      dask_address, dask_workers: our ``--dask_address`` / ``--dask_workers``.
    Returns:
      the arguments with ``--runner=<full name>`` (the last one wins in Beam).
    Raises:
      UsageError: both Dask flags, a Dask flag with another runner, or the Dask runner
        without Dask installed.
    """
    args = list(beam_args)
    index, runner = _option(args, "runner")
    wants_dask = dask_address is not None or dask_workers is not None
    if dask_address is not None and dask_workers is not None:
        raise UsageError("--dask_address and --dask_workers exclude each other: use one")
    if runner is not None:
        resolved = _ALIASES.get(runner.lower(), runner)
        if wants_dask and resolved != DASK_RUNNER:
            raise UsageError(f"--dask_address/--dask_workers need --runner dask, not {runner}")
        if args[index] == "--runner":
            args[index : index + 2] = [f"--runner={resolved}"]
        else:
            args[index] = f"--runner={resolved}"
    else:
        args.append(f"--runner={DASK_RUNNER if wants_dask else DEFAULT_RUNNER}")
    if is_dask(args) or any(a.startswith("--dask_") for a in args):
        _import_dask_runner()
    return args


@dataclasses.dataclass(frozen=True)
class DaskCluster:
    """The cluster a job runs on.

    Attributes:
      address: the scheduler's address (``tcp://127.0.0.1:PORT``).
      threads: worker threads in the cluster when the job starts (all workers).
      local: whether it was started for this job (and is closed after it).
    """

    address: str
    threads: int
    local: bool


@contextlib.contextmanager
def dask_cluster(
    address: Optional[str] = None,
    workers: Optional[int] = None,
    timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    memory_limit: str = "auto",
) -> Iterator[DaskCluster]:
    """A Dask cluster for one job: the one at ``address``, or ``workers`` new local workers.

    With ``workers``: a ``LocalCluster`` of that many worker processes (one thread each,
    under nannies that restart a killed worker), scheduler and workers bound to 127.0.0.1,
    no dashboard; closed when the block ends, whatever happens. With ``address``: the
    scheduler must answer within ``timeout_s`` and have at least one worker.

    Raises:
      UsageError: the address does not answer, has no worker, or Dask is not installed.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError as error:
        raise UsageError(f"the Dask runner needs Dask: {_INSTALL} ({error})") from None
    logging.getLogger("distributed").setLevel(logging.WARNING)  # not every connection
    if workers is not None:
        with LocalCluster(
            n_workers=int(workers),
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},  # its /health server
            memory_limit=memory_limit,
        ) as cluster:
            with Client(cluster, set_as_default=False) as client:
                threads = sum(client.nthreads().values())
            yield DaskCluster(cluster.scheduler_address, threads, local=True)
        return
    if not address:
        raise UsageError("the Dask runner needs --dask_address tcp://HOST:PORT or --dask_workers N")
    threads = scheduler_threads(address, timeout_s)
    if threads == 0:
        raise UsageError(f"--dask_address {address}: the scheduler has no worker")
    yield DaskCluster(address, threads, local=False)


async def _identity(address: str, timeout_s: float) -> object:
    """The ``identity`` reply of whatever answers at ``address`` (Dask's protocol)."""
    from distributed.comm import connect
    from distributed.security import Security

    args = Security().get_connection_args("client")  # TLS from Dask's configuration
    comm = await connect(address, timeout=timeout_s, **args)
    try:
        await comm.write({"op": "identity", "reply": True})
        return await comm.read()
    finally:
        comm.abort()


def scheduler_threads(address: str, timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S) -> int:
    """Worker threads of the Dask scheduler at ``address``, asked within ``timeout_s`` in all.

    The whole exchange (address parsing, connection, Dask's handshake, one ``identity``
    request) runs under one deadline: ``distributed.Client``'s ``timeout`` bounds only the
    connection, so something that accepts it and never speaks Dask (a web server, the
    dashboard's port) would hang it, and a half-made client blocks another 20 s on exit.

    Raises:
      UsageError: a malformed address, nothing answering within ``timeout_s``, or something
        that answers but is not a Dask scheduler (a worker, another protocol).
    """
    import asyncio

    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, location = parse_address(address)
        if scheme in ("tcp", "tls", "ws", "wss"):
            parse_host_port(location)
    except (ValueError, TypeError) as error:
        raise UsageError(
            f"--dask_address {address}: not a Dask scheduler address, e.g. "
            f"tcp://HOST:8786 ({error})"
        ) from None

    async def ask() -> object:
        return await asyncio.wait_for(_identity(address, timeout_s), timeout_s)

    try:
        reply = asyncio.run(ask())
    except (asyncio.TimeoutError, TimeoutError, OSError) as error:
        detail = " ".join(str(error).split())[:300]
        detail = (
            f"({detail})"
            if detail
            else "(nothing answered, or what answered does not speak Dask's protocol: "
            "a web server, the dashboard's port)"
        )
        raise UsageError(
            f"--dask_address {address}: no Dask scheduler answered within {timeout_s:g} s {detail}"
        ) from None
    except Exception as error:  # noqa: BLE001 - bytes that are not Dask's protocol
        detail = f"{type(error).__name__}: {' '.join(str(error).split())[:300]}"
        raise UsageError(
            f"--dask_address {address}: what answers there is not a Dask scheduler ({detail})"
        ) from None
    kind = reply.get("type") if isinstance(reply, dict) else None
    if kind != "Scheduler":
        what = f"a Dask {kind}" if isinstance(kind, str) else f"an unexpected reply {reply!r:.200}"
        raise UsageError(
            f"--dask_address {address}: not a Dask scheduler ({what}); give the scheduler's "
            "address (tcp://HOST:8786 by default)"
        )
    total = reply.get("total_threads")
    if total is None:
        total = sum(int(w.get("nthreads", 0)) for w in (reply.get("workers") or {}).values())
    return int(total)


def connect_timeout_s(beam_args: Sequence[str]) -> float:
    """Beam's ``--dask_connection_timeout`` (seconds) when given, else the default."""
    value = _option(list(beam_args), "dask_connection_timeout")[1]
    try:
        return float(value) if value is not None else DEFAULT_CONNECT_TIMEOUT_S
    except ValueError:
        raise UsageError(f"--dask_connection_timeout {value!r}: not a number of seconds") from None


def dask_pipeline_args(beam_args: Sequence[str], cluster: DaskCluster) -> list[str]:
    """Beam's arguments for a job on ``cluster``: its address, and one ``Create`` element
    per Dask partition (``--dask_partition_size=1``, unless partitions were set)."""
    args = list(beam_args)
    if _option(args, "dask_client_address")[1] is None:
        args.append(f"--dask_client_address={cluster.address}")
    if not any(a.startswith(("--dask_npartitions", "--dask_partition_size")) for a in args):
        args.append("--dask_partition_size=1")
    return args


def list_shards(cluster: Optional[DaskCluster], partitions: int = 0) -> int:
    """How many pieces to list the input in: 1 off Dask (``Reshuffle`` spreads the files);
    on Dask ``partitions``, or :data:`PARTITIONS_PER_THREAD` per worker thread."""
    if cluster is None:
        return 1
    return int(partitions) if partitions else max(1, PARTITIONS_PER_THREAD * cluster.threads)


class JobFailed(RuntimeError):
    """The engine failed during the job (after work started): the message says how."""


def _describe_failure(error: BaseException, runner: str) -> str:
    name = type(error).__name__
    text = " ".join(str(error).split())[:500]
    if name == "KilledWorker":
        return (
            f"a task was lost with {text or 'its workers'}: the workers running it died "
            "(killed, out of memory) more often than Dask's allowed-failures"
        )
    if name in ("CommClosedError", "CancelledError", "FutureCancelledError", "StreamClosedError"):
        return f"lost the connection to the Dask scheduler ({name}: {text})"
    if isinstance(error, (OSError, TimeoutError)) and runner == DASK_RUNNER:
        return text if "scheduler" in text else f"lost the Dask scheduler ({name}: {text})"
    return f"{name}: {text}"


def _check_futures(result) -> None:
    """Raises when a Dask job "finished" without its tasks: Beam 2.77's DaskRunner reports
    DONE when the client lost the scheduler (the futures end ``cancelled``, not ``error``)."""
    futures = getattr(result, "futures", None)
    if futures is None:
        return
    futures = [futures] if not isinstance(futures, (list, tuple)) else futures
    unfinished = sorted({f.status for f in futures if f.status != "finished"})
    if unfinished:
        raise ConnectionError(
            f"the Dask scheduler was lost: the job's tasks ended {', '.join(unfinished)}"
        )


def run_job(pipeline) -> object:
    """Runs ``pipeline`` to its end; returns Beam's ``PipelineResult``.

    Raises:
      JobFailed: the job failed after it started (its message names the cause); outputs
        already written are complete (atomic), so a rerun with ``--skip_existing`` does
        the rest.
    """
    runner = type(pipeline.runner).__module__ + "." + type(pipeline.runner).__name__
    result = None
    try:
        result = pipeline.run()
        result.wait_until_finish()
        _check_futures(result)
    except KeyboardInterrupt:
        raise
    except Exception as error:  # noqa: BLE001 - any engine failure ends the job the same way
        raise JobFailed(_describe_failure(error, runner)) from error
    finally:
        client = getattr(result, "client", None)  # the DaskRunner's, left open by Beam
        if client is not None:
            with contextlib.suppress(Exception):
                client.close(timeout=5)
    return result
