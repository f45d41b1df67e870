import pickle

import pytest
import torch

from ganlib import ToyGenerator

from ganlib.engine import checkpoint
from ganlib.engine.checkpoint import (CheckpointError, load_checkpoint, load_generator, model_record,
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
    with pytest.raises(CheckpointError, match="evil.pt' is intact, but it holds values of types "
                                              "that a safe load refuses: "
                                              "builtins.print") as e:
        load_checkpoint(path)
    assert "could run code" in str(e.value) and "do not allow them" in str(e.value)
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


# --------------------------------------------------------- what ganlib writes, ganlib reads

def tiny_fit(tmp_path, **kw):
    from ganlib import FitConfig, MLPDiscriminator, MLPGenerator, fit, make_adam

    G = MLPGenerator(nz=4, hidden=(8,), img_shape=(1, 4, 4))
    D = MLPDiscriminator(img_shape=(1, 4, 4), hidden=(8,))
    data = torch.randint(0, 256, (16, 1, 4, 4), dtype=torch.uint8)
    path = tmp_path / "ck.pt"
    cfg = FitConfig(steps=2, batch_size=8, progress=False, checkpoint_path=str(path))
    return fit(G, D, make_adam(G), make_adam(D), data, cfg, **kw), path


def test_numpy_values_in_meta_are_stored_as_plain_numbers_and_the_run_resumes(tmp_path):
    import numpy as np

    run, path = tiny_fit(tmp_path, meta={"images": np.int64(500), "lr": np.float32(0.5),
                                         "shape": np.array([1, 28]), "root": tmp_path})
    meta = load_checkpoint(path)["meta"]
    assert meta["images"] == 500 and type(meta["images"]) is int
    assert type(meta["lr"]) is float and torch.equal(meta["shape"], torch.tensor([1, 28]))
    assert meta["root"] == str(tmp_path)
    assert load_generator(path).sample(2).shape == (2, 1, 4, 4)


def test_a_snapshot_with_a_numpy_array_saves_and_one_with_an_object_fails_at_once(tmp_path):
    import datetime

    import numpy as np

    from ganlib import default_snapshot

    run, path = tiny_fit(tmp_path, snapshot_fn=lambda G, D, z: {
        **default_snapshot(G, D, z), "hist": np.histogram(np.arange(5.0), bins=2)[0]})
    assert torch.equal(load_checkpoint(path)["snapshots"][0]["hist"], torch.tensor([2, 3]))
    calls = []
    with pytest.raises(TypeError, match=r"the snapshot at step 0\['when'\] is a "
                                        r"datetime.datetime, which a checkpoint cannot hold"):
        tiny_fit(tmp_path / "b", snapshot_fn=lambda G, D, z: {"when": datetime.datetime.now()},
                 callback=lambda step, stats: calls.append(step))
    assert calls == []  # before the first step


def test_a_value_no_checkpoint_can_hold_is_refused_before_a_byte_is_written(tmp_path):
    with pytest.raises(TypeError, match=r"state\['meta'\]\['f'\] is a function"):
        save_checkpoint({"meta": {"f": lambda: 0}}, tmp_path / "ck.pt")
    assert not list(tmp_path.iterdir())


def test_an_intact_file_with_numpy_values_is_not_called_corrupt(tmp_path):
    """Written by other code (torch.save of numpy scalars): the loader says the file is intact
    and names the types, never "delete it", and the way out it gives works."""
    import numpy as np

    path = tmp_path / "old.pt"
    torch.save({"generator": model_record(ToyGenerator()), "meta": {"n": np.int64(5)}}, path)
    with pytest.raises(CheckpointError) as e:
        load_generator(path)
    msg = str(e.value)
    assert "is intact" in msg and "numpy" in msg and "Do not delete it" in msg
    assert "truncated" not in msg and "weights_only" not in msg
    core = getattr(np, "_core", None) or np.core  # numpy 2 renamed it
    with torch.serialization.safe_globals(
            [np.dtype, type(np.dtype(np.int64)), core.multiarray.scalar]):
        assert load_checkpoint(path)["meta"]["n"] == 5


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_checkpoint_loaded_onto_a_missing_gpu_is_not_called_corrupt(tmp_path):
    path = tmp_path / "g.pt"
    save_checkpoint({"generator": model_record(ToyGenerator())}, path)
    with pytest.raises(CheckpointError) as e:
        load_generator(path, map_location="cuda")
    msg = str(e.value)
    assert "is intact, but it cannot be loaded onto device 'cuda'" in msg
    assert "map_location='cpu'" in msg and "delete" not in msg
