"""Data-parallel training of one run over several processes (torch.distributed).

`mmspec run SPEC --nproc N` spawns N processes itself; `torchrun --nproc-per-node N -m mmspec run SPEC`
(or any launcher that sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT) works too.
Backend: NCCL on CUDA (one GPU per process, `cuda:LOCAL_RANK`), gloo on the CPU.

The spec's `batch` is the *global* batch: every step draws the same global batch on every rank (the
epoch permutation comes from the same seeded generator everywhere), and rank r trains on rows
[r*b, (r+1)*b) of it, b = batch / N. The compiled loss is a mean over the items of a batch, so DDP's
average of the ranks' gradients is the gradient of the global batch's loss. The reparameterisation
noise is made to match too: every rank draws the noise of the *whole* global batch from the same
generator state and keeps its own rows (`ShardedNoise`), so rank r's items get exactly the noise a
single process would give them. A run on N processes therefore follows a single-process run with
the same global batch to float tolerance (summation order), and can be resumed with any N.

Two things stay per rank and break that equivalence (training is still correct data-parallel SGD):
BatchNorm statistics (computed over a rank's rows; SyncBatchNorm needs CUDA) and
`rec(..., sampling=stratified)`, whose allocation of items to components is made per rank's rows.

Rank 0 alone writes the run directory, checkpoints, TensorBoard, the progress bar and evaluates;
the logged losses are averaged over ranks. Stopping (Ctrl-C, `stop_after_steps`) and divergence are
agreed by all ranks before anyone acts on them, so no rank waits forever in a collective.
"""
from __future__ import annotations

import atexit
import os
import socket
import sys
from dataclasses import dataclass
from typing import Callable

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..errors import RunError
from .loop import Trainer

ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass
class Context:
    rank: int
    world: int
    local_rank: int
    device: torch.device
    control: object                       # a gloo group for host-side agreement (stop flags, paths)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def mean(self, t: torch.Tensor) -> torch.Tensor:
        """The average of `t` over ranks (a new tensor)."""
        out = t.detach().clone()
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out / self.world

    def any(self, flag: bool) -> bool:
        """Whether any rank says True (every rank must call this at the same point)."""
        t = torch.tensor([int(flag)])
        dist.all_reduce(t, op=dist.ReduceOp.MAX, group=self.control)
        return bool(t.item())


_CONTEXT: Context | None = None


def requested() -> bool:
    """Whether this process was launched as one of several (torchrun or `--nproc`)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def context(device_name: str | None) -> Context | None:
    """Join the process group of this launch (once per process); None for a single process."""
    global _CONTEXT
    if _CONTEXT is not None or not requested():
        return _CONTEXT
    missing = [k for k in ENV if k not in os.environ]
    if missing:
        raise RunError(f"WORLD_SIZE is {os.environ['WORLD_SIZE']} but {', '.join(missing)} is not set; "
                       "start several processes with `mmspec run SPEC --nproc N` or with torchrun")
    rank, world, local = (int(os.environ[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    cuda = device_name != "cpu" and torch.cuda.is_available()
    if device_name == "cuda" and not cuda:
        raise RunError("--device cuda was asked for, but torch sees no CUDA device here; use --device cpu")
    if cuda:
        if local >= torch.cuda.device_count():
            raise RunError(f"process {rank} wants GPU {local}, but torch sees {torch.cuda.device_count()}; "
                           "start at most one process per GPU")
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", world))))
    dist.init_process_group("nccl" if cuda else "gloo", rank=rank, world_size=world, device_id=device if cuda else None)
    control = dist.new_group(backend="gloo") if cuda else dist.group.WORLD
    _CONTEXT = Context(rank, world, local, device, control)
    atexit.register(_close)
    return _CONTEXT


def _close() -> None:
    global _CONTEXT
    if dist.is_initialized():
        dist.destroy_process_group()
    _CONTEXT = None


def finish() -> None:
    """Leave the process group together, after every rank's run has returned: a rank that destroys
    its gloo group while another still uses it (rank 0 writing the last checkpoint) can make the
    other's gloo threads abort the process ("terminate called without an active exception")."""
    if _CONTEXT is not None and dist.is_initialized():
        dist.barrier(group=_CONTEXT.control)
    _close()


def is_main() -> bool:
    """True in a single process and on rank 0 of several."""
    return _CONTEXT is None or _CONTEXT.is_main


def on_main(ctx: Context | None, fn: Callable):
    """Run `fn` on rank 0 and hand its (picklable) result to every rank; its user error reaches every
    rank too, so no rank is left waiting for a run directory that will never come."""
    if ctx is None:
        return fn()
    box: list = [None]
    failure = None
    if ctx.is_main:
        try:
            box = [("ok", fn())]
        except Exception as exc:  # noqa: BLE001 - re-raised below, on every rank
            failure, box = exc, [("error", str(exc))]
    dist.broadcast_object_list(box, src=0, group=ctx.control)
    status, value = box[0]
    if failure is not None:
        raise failure
    if status == "error":
        raise RunError(value)
    return value


# --------------------------------------------------------------------------------------- training
class ShardedNoise:
    """The reparameterisation noise a single process would draw for the global batch, cut to this
    rank's rows. Noise of shape [K, B, D] (and the per-item draws [B] of stratified sampling) is
    drawn for the global batch from the same generator state on every rank; other draws are shared."""

    def __init__(self, ctx: Context, local_batch: int):
        self.rank, self.world, self.b = ctx.rank, ctx.world, local_batch

    def _draw(self, fn, key: str, shape, like) -> torch.Tensor:
        shape = tuple(shape)
        dim = 1 if len(shape) >= 2 else 0
        if key.endswith("/offset") or shape[dim] != self.b:
            return fn(shape, device=like.device, dtype=like.dtype)
        full = list(shape)
        full[dim] = self.b * self.world
        return fn(tuple(full), device=like.device, dtype=like.dtype).narrow(dim, self.rank * self.b, self.b)

    def normal(self, key, shape, like):
        return self._draw(torch.randn, key, shape, like)

    def uniform(self, key, shape, like):
        return self._draw(torch.rand, key, shape, like)


class _Loss(nn.Module):
    """The compiled model's loss as a module, so DDP sees the forward it must synchronise."""

    def __init__(self, model, noise: ShardedNoise):
        super().__init__()
        self.net = model.module               # registered: DDP finds the parameters here
        object.__setattr__(self, "_model", model)     # not a submodule: its parameters are `net`'s
        self._noise = noise

    def forward(self, batch):
        out = self._model.loss(batch, noise=self._noise)
        return out.loss, out.terms


class DistributedTrainer(Trainer):
    """`Trainer` on one rank: its share of each global batch, gradients averaged by DDP, values and
    stop decisions agreed over ranks, and everything written by rank 0 only."""

    def __init__(self, ctx: Context, model, dataset, cfg, *, run_dir, meta, display=None):
        super().__init__(model, dataset, cfg, run_dir=run_dir, meta=meta, display=display if ctx.is_main else None)
        self.ctx = ctx
        if self.batch % ctx.world:
            raise RunError(_uneven(self.batch, ctx.world))
        self.local_batch = self.batch // ctx.world
        ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        self.ddp = DistributedDataParallel(_Loss(model, ShardedNoise(ctx, self.local_batch)), device_ids=ids,
                                           static_graph=True)

    def _forward(self, batch):
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.cfg.amp == "bf16"):
            return self.ddp(batch)

    def _batch(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        full = super()._batch(idx)           # the whole global batch: the data generator stays in step
        start = self.ctx.rank * self.local_batch
        return {m: t[start:start + self.local_batch] for m, t in full.items()}

    def _sync(self, vec: torch.Tensor) -> dict[str, float]:
        """Values averaged over ranks; a divergence anywhere is seen by every rank at the same step."""
        never = torch.iinfo(torch.long).max
        first = torch.where(self._bad_step < 0, torch.full_like(self._bad_step, never), self._bad_step)
        dist.all_reduce(first, op=dist.ReduceOp.MIN)
        self._bad_step = torch.where(first == never, torch.full_like(first, -1), first)
        self._bad_vec = self.ctx.mean(self._bad_vec)
        return super()._sync(self.ctx.mean(vec))

    def _end_epoch(self, epoch: int, vec: torch.Tensor, sums: torch.Tensor) -> None:
        super()._end_epoch(epoch, vec, self.ctx.mean(sums))

    def _should_stop(self) -> bool:
        return self.ctx.any(super()._should_stop())

    def _save(self):
        return super()._save() if self.ctx.is_main else None


def trainer(ctx: Context, model, dataset, cfg, *, run_dir, meta, display=None) -> DistributedTrainer:
    """The trainer of one rank; multi-stage specs are refused (they train in one process)."""
    from .stages import is_staged
    if is_staged(model):
        raise RunError("this spec trains in several stages, which run in one process only; "
                       "drop --nproc (or torchrun) for it")
    return DistributedTrainer(ctx, model, dataset, cfg, run_dir=run_dir, meta=meta, display=display)


# --------------------------------------------------------------------------------------- launcher
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, opts, results) -> None:
    """One spawned process: the launcher's environment, then a normal `run` session."""
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    from rich.console import Console
    from ..cli import _user_errors
    from ..session import run
    console = Console(highlight=False, markup=False)
    try:
        result = run(opts, log=console.print if rank == 0 else _silent, console=console)
        finish()
        outcome = ("ok", result)
    except _user_errors() as exc:
        outcome = ("error", str(exc))
    if rank == 0:
        results.put(outcome)
    # Leave without the interpreter's teardown: destructors of torch's C++ threads (gloo, the
    # autograd engine) at exit occasionally abort a finished worker ("terminate called without an
    # active exception", exit -6) after its work is done and its result handed over.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _silent(*_args, **_kwargs) -> None:
    pass


def _check_batch(opts, nproc: int) -> None:
    """Refuse a batch that does not split over the processes before spawning any (a fresh run)."""
    if opts.resume is not None:
        return
    from mmspec import compile_spec
    batch = compile_spec(opts.spec, dict(opts.overrides) or None).train.batch
    if batch % nproc:
        raise RunError(_uneven(batch, nproc))


def _uneven(batch: int, world: int) -> str:
    return (f"the global batch of {batch} items does not split evenly over {world} processes; choose a "
            f"batch divisible by {world} (e.g. --set batch=...) or another number of processes")


def launch(opts, nproc: int):
    """Spawn `nproc` processes that train `opts` together; returns rank 0's `RunResult`."""
    import signal
    import torch.multiprocessing as mp
    if nproc < 1:
        raise RunError(f"--nproc must be at least 1, got {nproc}")
    if requested():
        raise RunError("--nproc was given inside a launch that already has several processes (torchrun); "
                       "use one or the other")
    if opts.device != "cpu" and torch.cuda.is_available() and nproc > torch.cuda.device_count():
        raise RunError(f"--nproc {nproc} asks for one GPU per process, but torch sees "
                       f"{torch.cuda.device_count()}; use --nproc {torch.cuda.device_count()} or --device cpu")
    _check_batch(opts, nproc)
    queue = mp.get_context("spawn").SimpleQueue()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)    # Ctrl-C reaches the workers; they checkpoint
    try:
        mp.start_processes(_worker, args=(nproc, _free_port(), opts, queue), nprocs=nproc, join=True,
                           start_method="spawn")
    except mp.ProcessRaisedException as exc:
        raise RunError(f"a training process failed:\n{exc}") from None
    except mp.ProcessExitedException as exc:
        raise RunError(f"a training process ended abnormally (exit code {exc.exit_code})") from None
    finally:
        signal.signal(signal.SIGINT, previous)
    status, value = queue.get()
    if status == "error":
        raise RunError(value)
    return value
