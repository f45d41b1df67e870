import pytest
import torch

import ganlib
from ganlib.params import ParameterError, check_out_dir, check_params


def chapter(**injected):
    """A chapter's namespace: the typed parameters cell, then papermill's injected values."""
    ns = {}
    exec("dataset: str = 'mnist'\n"
         "download: bool = True\n"
         "epochs: int = 300\n"
         "max_steps: int = 12000\n"
         "batch_size: int = 100\n"
         "lr: float = 2e-4\n"
         "g_hidden: tuple = (256, 512, 1024)\n"
         "d_hidden: tuple[int, ...] = (1024, 512)\n"
         "d_dropout: float = 0.3\n", ns)
    ns.update(injected)
    return ns


LIMITS = dict(minimum={"epochs": 1, "max_steps": 0, "batch_size": 1, "g_hidden": 1,
                       "d_hidden": 1, "d_dropout": 0},
              maximum={"d_dropout": 1}, choices={"dataset": ("mnist", "fashion-mnist")})


def test_defaults_pass_through_unchanged():
    ns = chapter()
    got = check_params(ns, **LIMITS)
    assert got == {k: ns[k] for k in ns["__annotations__"]}


@pytest.mark.parametrize("name,value,want", [
    ("download", "false", False), ("download", "False", False), ("download", "0", False),
    ("download", "true", True), ("download", "1", True), ("download", 0, False),
    ("download", "no", False), ("epochs", "5", 5), ("epochs", 5.0, 5), ("epochs", "1e3", 1000),
    ("lr", "0.01", 0.01), ("lr", 1, 1.0), ("g_hidden", "256,512", (256, 512)),
    ("g_hidden", 512, (512,)), ("g_hidden", [256, 512], (256, 512)),
    ("g_hidden", "(64, 128)", (64, 128)), ("d_hidden", "32", (32,)), ("max_steps", 0, 0),
    ("dataset", "fashion-mnist", "fashion-mnist"),
])
def test_values_are_converted_to_their_declared_types(name, value, want):
    got = check_params(chapter(**{name: value}), **LIMITS)[name]
    assert got == want and type(got) is type(want)


@pytest.mark.parametrize("name,value,allowed", [
    ("download", "maybe", "true or false"),
    ("download", 2, "true or false"),
    ("epochs", "abc", "a whole number >= 1"),
    ("epochs", -1, "a whole number >= 1"),
    ("epochs", 0, "a whole number >= 1"),
    ("epochs", 0.5, "a whole number >= 1"),
    ("epochs", "0.5", "a whole number >= 1"),
    ("epochs", True, "a whole number >= 1"),
    ("epochs", None, "a whole number >= 1"),
    ("batch_size", 0, "a whole number >= 1"),
    ("max_steps", -5, "a whole number >= 0"),
    ("lr", "fast", "a number"),
    ("lr", float("nan"), "a number"),
    ("g_hidden", "256,abc", "whole numbers separated by commas, like '256,512', each >= 1"),
    ("g_hidden", "256,0", "whole numbers separated by commas, like '256,512', each >= 1"),
    ("g_hidden", "", "whole numbers separated by commas"),
    ("d_dropout", 1.5, "a number from 0 to 1"),
    ("dataset", "cifar10", "one of 'mnist', 'fashion-mnist'"),
    ("dataset", True, "one of 'mnist', 'fashion-mnist'"),
])
def test_each_error_names_the_parameter_its_value_and_what_is_allowed(name, value, allowed):
    with pytest.raises(ParameterError) as e:
        check_params(chapter(**{name: value}), **LIMITS)
    msg = str(e.value)
    assert msg.startswith("1 parameter cannot be used:")
    assert f"  {name} = {value!r}: expected {allowed}" in msg
    assert "parameters cell, or in papermill's -p option" in msg


def test_every_bad_parameter_is_reported_at_once():
    with pytest.raises(ParameterError) as e:
        check_params(chapter(epochs="abc", batch_size=0, download="false!"), **LIMITS)
    msg = str(e.value)
    assert msg.startswith("3 parameters cannot be used:")
    assert "epochs = 'abc'" in msg and "batch_size = 0" in msg and "download = 'false!'" in msg


def test_a_chapters_own_mistakes_are_caught_too():
    with pytest.raises(ParameterError, match="undeclared parameters.*'epoch'"):
        check_params(chapter(), minimum={"epoch": 1})
    with pytest.raises(ParameterError, match="found no typed parameters"):
        check_params({"epochs": 3})


def test_in_a_kernel_the_annotations_survive_papermills_injected_cell():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        shell.run_cell("resume: bool = True  # continue from a checkpoint\n"
                       "g_hidden: tuple = (256, 512)\n", store_history=False)
        shell.run_cell("# Parameters\nresume = 'false'\ng_hidden = 512\n", store_history=False)
        shell.run_cell("import ganlib\nglobals().update(ganlib.check_params(globals()))",
                       store_history=False).raise_error()
        assert shell.user_ns["resume"] is False and shell.user_ns["g_hidden"] == (512,)
    finally:
        InteractiveShell.clear_instance()


def test_out_dir_is_created_and_checked_before_any_work(tmp_path):
    assert check_out_dir(tmp_path / "runs" / "new") == tmp_path / "runs" / "new"
    assert (tmp_path / "runs" / "new").is_dir()
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(ParameterError, match=r"out_dir = '.*a_file' is a file, not a folder: "
                                             r"choose another out_dir"):
        check_out_dir(tmp_path / "a_file")
    with pytest.raises(ParameterError, match=r"out_dir = '.*a_file/run' cannot be written to "
                                             r"\(.*\): choose a folder you can write to"):
        check_out_dir(tmp_path / "a_file" / "run")


def test_devices_that_are_not_there_fail_at_once(monkeypatch):
    with pytest.raises(ValueError, match=r"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or "
                                         r"'mps', got 'gpu'"):
        ganlib.get_device("gpu")
    with pytest.raises(ValueError, match="got 'meta'"):
        ganlib.get_device("meta")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="'mps' .* was asked for, but MPS is not available "
                                           "here; use device='auto' or 'cpu'"):
        ganlib.get_device("mps")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            ganlib.get_device("cuda")
    else:
        n = torch.cuda.device_count()
        with pytest.raises(RuntimeError, match=f"has {n} CUDA device"):
            ganlib.get_device(f"cuda:{n}")
    assert ganlib.get_device("cpu") == torch.device("cpu")
