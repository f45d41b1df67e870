import pickle

import pytest
import torch

from ganlib import checkpoint
from ganlib.checkpoint import load_checkpoint, load_generator, save_checkpoint


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


def test_loads_refuse_pickled_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("this must not run",))

    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        torch.save({"x": Evil()}, f, pickle_module=pickle)
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(path)


def test_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_generator(tmp_path / "missing.pt")
    save_checkpoint({"step": 0}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a ganlib checkpoint"):
        load_generator(tmp_path / "other.pt")
