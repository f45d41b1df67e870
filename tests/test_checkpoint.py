import pickle

import pytest
import torch

from ganlib import ToyGenerator, checkpoint
from ganlib.checkpoint import (CheckpointError, load_checkpoint, load_generator, model_record,
                               save_checkpoint)


def test_interrupted_write_leaves_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ck.pt"
    save_checkpoint({"step": 1, "w": torch.ones(3)}, path)

    real_save = torch.save

    def dies_halfway(obj, f, *a, **kw):
        f.write(b"PK\x03\x04 half a zip")  # some bytes reach the disk...
        raise KeyboardInterrupt  # ...then the kernel is interrupted

    monkeypatch.setattr(checkpoint.torch, "save", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({"step": 2, "w": torch.zeros(3)}, path)
    monkeypatch.setattr(checkpoint.torch, "save", real_save)
    ck = load_checkpoint(path)
    assert ck["step"] == 1 and torch.equal(ck["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]  # no temp file left behind


def test_loads_refuse_pickled_code(tmp_path, capsys):
    class Evil:
        def __reduce__(self):
            return (print, ("this must not run",))

    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        torch.save({"x": Evil()}, f, pickle_module=pickle)
    with pytest.raises(CheckpointError, match="evil.pt' is not a ganlib checkpoint") as e:
        load_checkpoint(path)
    assert "weights_only" not in str(e.value) and e.value.__cause__ is None
    assert e.value.__suppress_context__  # torch's advice stays out of the traceback too
    assert "this must not run" not in capsys.readouterr().out


def test_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_generator(tmp_path / "missing.pt")
    save_checkpoint({"step": 0}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a ganlib checkpoint.*it has no 'generator'"):
        load_generator(tmp_path / "other.pt")


def good_checkpoint_bytes(tmp_path):
    save_checkpoint({"generator": model_record(ToyGenerator())}, tmp_path / "good.pt")
    return (tmp_path / "good.pt").read_bytes()


@pytest.mark.parametrize("kind,why", [
    ("empty", "0 bytes; torch.load raised EOFError"),
    ("truncated", "bytes; torch.load raised"),
    ("random", "torch.load raised UnpicklingError"),
    ("tensor", "it holds a Tensor, not a dict"),
    ("list", "it holds a list, not a dict"),
    ("foreign dict", "its 'generator' is not a model record"),
])
def test_truncated_and_foreign_files_are_named_with_what_to_do(tmp_path, kind, why):
    path = tmp_path / "sent.pt"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        good = good_checkpoint_bytes(tmp_path)
        path.write_bytes(good[:len(good) // 2])
    elif kind == "random":
        gen = torch.Generator().manual_seed(0)  # seeded: some byte strings raise other errors
        path.write_bytes(torch.randint(0, 256, (300,), dtype=torch.uint8, generator=gen)
                         .numpy().tobytes())
    else:
        obj = {"tensor": torch.ones(3), "list": [1, 2],
               "foreign dict": {"generator": torch.ones(3)}}[kind]
        torch.save(obj, path)
    with pytest.raises(CheckpointError) as e:
        load_generator(path)
    msg = str(e.value)
    assert msg.startswith(f"{str(path)!r} is not a ganlib checkpoint, or it is truncated")
    assert why in msg
    assert "delete it" in msg and "resume=False" in msg and "weights_only" not in msg
