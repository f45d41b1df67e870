import pytest
import torch

import ganlib
from ganlib.book.params import ParameterError, check_out_dir, check_params


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


# ------------------------------------------------------- names papermill injects, misspelt

PARAMETERS_CELL = "out_dir: str = 'runs/x'  # where\nseeds: int = 3  # how many\nlr: float = 0.1\n"
CHECK_CELL = "import ganlib\nglobals().update(ganlib.check_params(globals()))\n"


def kernel(*cells):
    """A kernel's namespace after running `cells` in order, with its history `In` (In[0] is
    IPython's empty entry; In[-1] is the cell now running, the check)."""
    ns = {}
    for cell in cells:
        exec(cell, ns)
    ns["In"] = ["", *cells, CHECK_CELL]
    return ns


def injected(**values):
    """papermill's injected cell (PythonTranslator.codify) for -p name value options."""
    return "# Parameters\n" + "".join(f"{k} = {v!r}\n" for k, v in values.items())


def test_a_misspelt_injected_name_stops_with_the_closest_declared_name():
    ns = kernel(PARAMETERS_CELL, injected(out_dirr="/tmp/x"))
    with pytest.raises(ParameterError) as e:
        check_params(ns)
    msg = str(e.value)
    assert msg.startswith("unknown parameter out_dirr; did you mean out_dir?\n")
    assert "a name that the parameters cell does not declare would be ignored" in msg
    assert "-p (or -r, -y, -f) option" in msg


def test_every_unknown_name_is_listed_and_a_name_like_none_lists_the_parameters():
    ns = kernel(PARAMETERS_CELL, injected(seedz=2, lr=0.5, colour="red", out_dirr="/tmp/x"))
    with pytest.raises(ParameterError) as e:
        check_params(ns)
    msg = str(e.value)
    assert msg.startswith("unknown parameters seedz, colour, out_dirr:\n"
                          "  seedz: did you mean seeds?\n"
                          "  colour: no parameter is named like it\n"
                          "  out_dirr: did you mean out_dir?\n"
                          "The parameters are out_dir, seeds, lr\n")
    with pytest.raises(ParameterError, match=r"^unknown parameter colour; the parameters are "
                                             r"out_dir, seeds, lr\n"):
        check_params(kernel(PARAMETERS_CELL, injected(colour="red")))


def test_unknown_names_and_bad_values_are_reported_together():
    ns = kernel(PARAMETERS_CELL, injected(seedz=2, lr="fast"))
    with pytest.raises(ParameterError) as e:
        check_params(ns)
    msg = str(e.value)
    assert msg.startswith("unknown parameter seedz; did you mean seeds?")
    assert "1 parameter cannot be used:\n  lr = 'fast': expected a number" in msg


@pytest.mark.parametrize("cells", [
    (PARAMETERS_CELL,),  # a default run: nothing injected
    (PARAMETERS_CELL, injected(out_dir="/tmp/x", seeds="4")),  # -r passes strings
    (PARAMETERS_CELL, PARAMETERS_CELL, injected(seeds=4)),  # the parameters cell run twice
    (PARAMETERS_CELL, injected(seeds=4), "import math\n"),  # a cell between: passed over
    # the injected cell, then the parameters cell run again: its names are stale
    (injected(colour="red"), PARAMETERS_CELL),
    (PARAMETERS_CELL, "# Parameters\nfor i in range(2):\n    colour = i\n"),  # not papermill's
])
def test_declared_names_and_other_histories_pass_silently(cells):
    check_params(kernel(*cells))


def test_the_newest_injected_cell_counts_and_the_search_stops_at_the_parameters_cell():
    # a misspelt run, then the parameters cell run again and a correct injected cell
    ns = kernel(PARAMETERS_CELL, injected(seedz=2), PARAMETERS_CELL, injected(seeds=2))
    assert check_params(ns)["seeds"] == 2
    ns = kernel(PARAMETERS_CELL, injected(seeds=2), CHECK_CELL, injected(seedz=2))
    with pytest.raises(ParameterError, match="unknown parameter seedz"):
        check_params(ns)


def test_outside_ipython_there_is_no_history_and_nothing_changes():
    ns = kernel(PARAMETERS_CELL, injected(colour="red"))
    del ns["In"]
    check_params(ns)
    ns["In"] = "not a history"
    check_params(ns)


def papermill(notebook, out, *options, cwd):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "papermill", str(notebook), str(out),
                           "--cwd", str(cwd), "-k", "python3", *options],
                          capture_output=True, text=True, timeout=120)


def error_of(path):
    import nbformat

    nb = nbformat.read(path, as_version=4)
    return "\n".join(o.evalue for c in nb.cells if c.cell_type == "code" for o in c.outputs
                     if o.output_type == "error")


@pytest.mark.slow
@pytest.mark.parametrize("option", ["-p", "-r"])
def test_papermill_stops_a_notebook_on_a_misspelt_name_before_any_work(tmp_path, option):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3",
                              "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(PARAMETERS_CELL, metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(CHECK_CELL),
                nbformat.v4.new_code_cell("from pathlib import Path\n"
                                          "Path('work.txt').write_text(str(seeds))\n")]
    nbformat.write(nb, tmp_path / "chapter.ipynb")
    res = papermill(tmp_path / "chapter.ipynb", tmp_path / "out.ipynb", option, "out_dirr",
                    "/tmp/x", "-p", "seeds", "4", cwd=tmp_path)
    assert res.returncode != 0
    assert "unknown parameter out_dirr; did you mean out_dir?" in error_of(tmp_path / "out.ipynb")
    assert not (tmp_path / "work.txt").exists()
    # spelt right, the same notebook runs to its end
    res = papermill(tmp_path / "chapter.ipynb", tmp_path / "out.ipynb", option, "out_dir",
                    "/tmp/x", "-p", "seeds", "4", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert (tmp_path / "work.txt").read_text() == "4"


@pytest.mark.slow
def test_a_chapter_stops_in_its_check_cell_on_a_misspelt_name(tmp_path):
    from conftest import ROOT

    res = papermill(ROOT / "book" / "05_fixes.ipynb", tmp_path / "out.ipynb", "-p", "seedz",
                    "2", "-p", "out_dir", str(tmp_path / "run"), cwd=tmp_path)
    assert res.returncode != 0
    msg = error_of(tmp_path / "out.ipynb")
    # 04 declares seed and seeds: both are offered, the closer first
    assert msg.startswith("unknown parameter seedz; did you mean seed or seeds?"), msg
    assert not (tmp_path / "run").exists()  # check_out_dir, the next line, never ran
