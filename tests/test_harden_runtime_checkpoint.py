"""Checkpoints under crashes, damage, full disks, NaN weights and concurrent runs (issue 15).

A crash is simulated by raising inside one of the protocol's file operations (`_write`, `_rename`,
`_remove`), either before it acts or halfway through it (a half-written file, a rename that happened,
a folder half deleted). Every step of a save is crashed, then every step of the next save (the
resuming run's), and the checkpoint must always load, verified, as one of the versions written.
"""
from __future__ import annotations

import errno
import json
import os
import shutil

import pytest
import torch

from runtime.errors import RunError
from runtime.rundir import RunLock
from runtime.train import checkpoint
from runtime.train.loop import LoopConfig, Trainer
from runtime_fakes import FakeDataset, FakeModel


class Crash(Exception):
    """The process died here."""


def _module(version: float) -> torch.nn.Module:
    module = torch.nn.Linear(3, 2)
    with torch.no_grad():
        for p in module.parameters():
            p.fill_(version)
    return module


def _save(run_dir, version: int):
    return checkpoint.save(run_dir, _module(version), {"version": version}, spec_text=f"model v{version}\n",
                           meta={"spec_hash": "h", "step": version, "epoch": version})


def _loaded_version(run_dir) -> int:
    """The version of the checkpoint that loads, checked in its weights, state and meta alike."""
    ckpt = checkpoint.load(run_dir)
    version = ckpt.meta["step"]
    module = _module(0)
    ckpt.load_weights(module, "cpu")
    assert all(torch.all(p == version) for p in module.parameters())
    assert ckpt.state == {"version": version} and ckpt.spec_text == f"model v{version}\n"
    return version


class Crasher:
    """Counts the protocol's file operations and crashes at operation `at` ('before' or 'during' it)."""

    def __init__(self, monkeypatch, at: int, mode: str):
        self.at, self.mode, self.count = at, mode, 0
        real = {name: getattr(checkpoint, name) for name in ("_write", "_rename", "_remove")}

        def write(path, writer):
            if self._now() and self.mode == "during":
                writer(path)
                with open(path, "rb+") as f:
                    f.truncate(max(0, os.path.getsize(path) // 2))
                raise Crash
            real["_write"](path, writer)

        def rename(src, dst):
            if self._now() and self.mode == "during":
                real["_rename"](src, dst)
                raise Crash
            real["_rename"](src, dst)

        def remove(folder):
            if self._now() and self.mode == "during":
                files = sorted(folder.glob("*")) if folder.exists() else []
                if files:
                    files[len(files) // 2].unlink()
                raise Crash
            real["_remove"](folder)

        for name, fn in (("_write", write), ("_rename", rename), ("_remove", remove)):
            monkeypatch.setattr(checkpoint, name, fn)

    def _now(self) -> bool:
        self.count += 1
        if self.count == self.at and self.mode == "before":
            raise Crash
        return self.count == self.at


def _crashed_save(monkeypatch, run_dir, version: int, at: int, mode: str) -> bool:
    """Save `version`, crashing at operation `at`; False when the save finished before reaching it."""
    with monkeypatch.context() as m:
        Crasher(m, at, mode)
        try:
            _save(run_dir, version)
        except Crash:
            return True
    return False


def test_two_crashes_in_a_row_at_every_step_never_lose_a_complete_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "fsync", lambda fd: None)       # speed only: crashes here are in-process
    base = tmp_path / "base"
    _save(base, 1)
    first_crashes = 0
    for at1 in range(1, 20):
        for mode1 in ("before", "during"):
            once = tmp_path / f"once-{at1}-{mode1}"
            shutil.copytree(base, once)
            if not _crashed_save(monkeypatch, once, 2, at1, mode1):
                continue
            first_crashes += 1
            assert _loaded_version(once) in (1, 2)
            for at2 in range(1, 20):
                for mode2 in ("before", "during"):
                    twice = tmp_path / "twice"
                    shutil.rmtree(twice, ignore_errors=True)
                    shutil.copytree(once, twice)
                    before = _loaded_version(twice)                      # what the resuming run starts from
                    crashed = _crashed_save(monkeypatch, twice, 3, at2, mode2)
                    assert _loaded_version(twice) in ((before, 3) if crashed else (3,)), (at1, mode1, at2, mode2)
                    _save(twice, 4)                                       # and the run goes on normally
                    assert _loaded_version(twice) == 4
                    assert sorted(p.name for p in twice.iterdir()) == [checkpoint.FOLDER]
    assert first_crashes >= 14          # every operation of a save was crashed, in both ways


def test_the_issues_sequence_crash_in_the_swap_then_crash_of_the_resuming_run(tmp_path, monkeypatch):
    """Old protocol: the resuming run deleted checkpoint.old, the only complete checkpoint."""
    _save(tmp_path, 1)
    assert _crashed_save(monkeypatch, tmp_path, 2, at=6, mode="during")          # checkpoint -> .old done
    assert not (tmp_path / checkpoint.FOLDER).exists() and (tmp_path / checkpoint.OLD).exists()
    assert _loaded_version(tmp_path) == 2                                       # the complete .tmp
    for at in range(1, 12):
        run_dir = tmp_path.parent / f"again-{at}"
        shutil.copytree(tmp_path, run_dir)
        _crashed_save(monkeypatch, run_dir, 3, at=at, mode="during")
        assert _loaded_version(run_dir) in (2, 3)


@pytest.mark.parametrize("name, damage, words", [
    ("model.safetensors", "flip", "checksum mismatch"),
    ("model.safetensors", "truncate", "checksum mismatch"),
    ("model.safetensors", "empty", "empty"),
    ("model.safetensors", "delete", "missing"),
    ("state.pt", "flip", "still evaluates them"),
    ("state.pt", "delete", "still evaluates them"),
    ("meta.json", "garbage", "not valid JSON"),
    ("meta.json", "list", "not an object"),
    ("meta.json", "no step", "no valid 'step'"),
    ("spec.mms", "flip", "checksum mismatch"),
])
def test_a_damaged_checkpoint_file_is_named_with_what_can_still_be_done(tmp_path, name, damage, words):
    _save(tmp_path, 1)
    path = tmp_path / checkpoint.FOLDER / name
    data = path.read_bytes()
    if damage == "flip":
        path.write_bytes(data[:len(data) // 2] + bytes([data[len(data) // 2] ^ 0xFF]) + data[len(data) // 2 + 1:])
    elif damage == "truncate":
        path.write_bytes(data[:len(data) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "delete":
        path.unlink()
    elif damage == "garbage":
        path.write_bytes(b"\xff\xfe{not json")
    elif damage == "list":
        path.write_text("[1, 2]")
    else:
        meta = json.loads(data)
        del meta["step"]
        path.write_text(json.dumps(meta))
    with pytest.raises(RunError) as err:
        checkpoint.load(tmp_path)
    message = str(err.value)
    assert f"{name}:" in message and words in message and "is damaged" in message
    if name == "state.pt":                      # evaluation needs no optimizer state
        assert checkpoint.load(tmp_path, need_state=False).meta["step"] == 1


def test_flipped_bytes_in_an_unchecksummed_checkpoint_still_give_a_clear_error(tmp_path):
    """Checkpoints written before checksums: the safetensors and torch readers' errors are located."""
    _save(tmp_path, 1)
    folder = tmp_path / checkpoint.FOLDER
    meta = json.loads((folder / "meta.json").read_text())
    del meta["files"]
    (folder / "meta.json").write_text(json.dumps(meta))
    (folder / "model.safetensors").write_bytes(b"\x00" * 40)
    (folder / "state.pt").write_bytes(b"garbage")
    ckpt = checkpoint.load(tmp_path)
    with pytest.raises(RunError, match="model.safetensors: "):
        ckpt.load_weights(_module(0), "cpu")
    with pytest.raises(RunError, match="(?s)state.pt: .*still evaluates them"):
        ckpt.state


def test_a_full_disk_says_so_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    _save(tmp_path, 1)
    real = checkpoint._write

    def full(path, writer):
        if path.name == "state.pt":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, writer)

    monkeypatch.setattr(checkpoint, "_write", full)
    with pytest.raises(RunError) as err:
        _save(tmp_path, 2)
    assert "No space left on device" in str(err.value)
    assert "last complete checkpoint (epoch 1, step 1) is intact" in str(err.value)
    assert "--resume" in str(err.value)
    assert _loaded_version(tmp_path) == 1 and not (tmp_path / checkpoint.TMP).exists()


def test_non_finite_weights_are_never_checkpointed(tmp_path):
    _save(tmp_path, 1)
    bad = _module(2)
    with torch.no_grad():
        bad.weight[0, 0] = float("nan")
    with pytest.raises(checkpoint.NotFinite, match="1 of 2 weight tensors hold NaN or infinity .*weight"):
        checkpoint.save(tmp_path, bad, {}, spec_text="x", meta={"spec_hash": "h", "step": 2, "epoch": 2})
    assert _loaded_version(tmp_path) == 1


class _InfiniteGradient(torch.autograd.Function):
    """Identity forward, infinite gradient backward: a finite loss whose update breaks the weights."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * float("inf")


class BreaksWeightsAtStep(FakeModel):
    calls = 0

    def loss(self, batch, noise=None):
        BreaksWeightsAtStep.calls += 1
        out = super().loss(batch, noise)
        if BreaksWeightsAtStep.calls == 16:                 # the last step of epoch 2 (8 steps per epoch)
            out.loss = _InfiniteGradient.apply(out.loss)
        return out


def test_the_nan_guard_keeps_only_a_finite_checkpoint_as_the_last_good_one(tmp_path):
    BreaksWeightsAtStep.calls = 0
    torch.manual_seed(0)
    model = BreaksWeightsAtStep(epochs=4)
    trainer = Trainer(model, FakeDataset(), LoopConfig(epochs=4, batch=32, seed=0, log_every=5),
                      run_dir=tmp_path, meta={"spec_hash": model.source_hash})
    out = trainer.fit()
    assert out.status == "diverged"
    assert "weights became non-finite by step 16 (epoch 2)" in out.message
    assert "last good checkpoint (end of epoch 1)" in out.message
    ckpt = checkpoint.load(tmp_path)
    assert ckpt.meta["epoch"] == 1
    fresh = FakeModel()
    ckpt.load_weights(fresh.module, "cpu")
    assert all(torch.isfinite(p).all() for p in fresh.module.parameters())


def test_a_run_directory_is_locked_and_a_stale_lock_is_recognised(tmp_path):
    lock = RunLock(tmp_path).acquire()
    with pytest.raises(RunError, match=f"in use by another mmspec run \\(pid {os.getpid()}\\)"):
        RunLock(tmp_path).acquire()
    lock.release()
    (tmp_path / ".lock").write_text("999999999\n")          # left by a process that died
    again = RunLock(tmp_path).acquire()
    assert (tmp_path / ".lock").read_text().strip() == str(os.getpid())
    again.release()
