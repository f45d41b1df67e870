"""The scrubber's structure and its ipywidgets 7 (Colab) fallback; the browser test in
test_book.py checks that it works in the static page."""

import subprocess
import sys

import ipywidgets as W
import pytest

from ganlib import FitConfig, ToyDiscriminator, ToyGenerator, fit, gan_lab_snapshot, make_adam
from ganlib import ring2d, set_seed, viz
from ganlib.viz import widgets
from conftest import IN_CI

PNG = [bytes([137, 80, 78, 71]) + bytes([i]) for i in range(3)]  # three distinct "frames"


def parts(box):
    (play, slider), view = box.children[0].children, box.children[1]
    return play, slider, view


def test_scrubber_links_play_slider_and_frames_in_the_browser():
    box = widgets.scrubber(PNG, [0, 50, 100])
    play, slider, view = parts(box)
    assert isinstance(play, W.Play) and play.max == 2
    assert [label for label, _ in slider.options] == ["0", "50", "100"]
    assert isinstance(view, W.Stack) and [c.value for c in view.children] == PNG
    pairs = {((l.source[0].model_id, l.source[1]), (l.target[0].model_id, l.target[1]))
             for l in box.links}
    assert ((play.model_id, "value"), (slider.model_id, "index")) in pairs
    assert ((slider.model_id, "index"), (view.model_id, "selected_index")) in pairs


def test_scrubber_without_stack_swaps_one_image_from_python(monkeypatch):
    monkeypatch.delattr(W, "Stack")  # what ipywidgets 7 (Colab) looks like
    box = widgets.scrubber(PNG, [0, 50, 100])
    _, slider, view = parts(box)
    assert isinstance(view, W.Image) and view.value == PNG[0]
    slider.index = 2
    assert view.value == PNG[2]


def test_scrubber_rejects_mismatched_frames():
    with pytest.raises(ValueError, match="one frame per step"):
        widgets.scrubber(PNG, [0, 1])


def test_picker_links_the_dropdown_to_the_frames_in_the_browser():
    box = widgets.picker(PNG, ["zero", "one", "two"], value=1)
    menu, view = box.children
    assert isinstance(menu, W.Dropdown) and menu.label == "one" and menu.index == 1
    assert isinstance(view, W.Stack) and view.selected_index == 1
    assert [c.value for c in view.children] == PNG
    (link,) = box.links
    assert (link.source[0], link.source[1], link.target[0], link.target[1]) == (
        menu, "index", view, "selected_index")


def test_picker_without_stack_swaps_one_image_from_python(monkeypatch):
    monkeypatch.delattr(W, "Stack")
    menu, view = widgets.picker(PNG, [0, 1, 2]).children
    assert isinstance(view, W.Image) and view.value == PNG[0]
    menu.index = 2
    assert view.value == PNG[2]


def test_picker_rejects_bad_input():
    with pytest.raises(ValueError, match="one frame per option"):
        widgets.picker(PNG, ["a"])
    with pytest.raises(ValueError, match="0 to 2; got 3"):
        widgets.picker(PNG, ["a", "b", "c"], value=3)


def test_training_scrubber_renders_one_png_per_snapshot():
    set_seed(0)
    G, D = ToyGenerator(), ToyDiscriminator()
    run = fit(G, D, make_adam(G), make_adam(D), ring2d(512),
              FitConfig(steps=6, batch_size=64, snapshot_every=3, n_fixed=50, progress=False),
              snapshot_fn=gan_lab_snapshot(resolution=8, arrows=4))
    frames, steps = viz.training_frames(run, lambda ax, s: viz.plot_toy(s, ring2d(100), ax=ax))
    assert steps == [0, 3, 6] and all(f.startswith(b"\x89PNG") for f in frames)
    box = widgets.training_scrubber(run, lambda ax, s: viz.plot_toy(s, ring2d(100), ax=ax))
    assert len(parts(box)[2].children) == 3


@pytest.mark.slow
def test_works_with_colab_ipywidgets_7(tmp_path):
    """Install Colab's ipywidgets 7.7.1 beside ganlib and build a scrubber with it."""
    target = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                          str(target), "ipywidgets==7.7.1", "ipython_genutils"],
                         capture_output=True, text=True)
    if pip.returncode != 0:
        msg = f"could not install ipywidgets 7.7.1 from PyPI: {pip.stderr[-300:]}"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    code = (
        "import ipywidgets as W; assert W.__version__ == '7.7.1', W.__version__\n"
        "from ganlib import widgets\n"
        "box = widgets.scrubber([b'a', b'b'], [0, 10])\n"
        "(play, slider), view = box.children[0].children, box.children[1]\n"
        "assert isinstance(view, W.Image) and view.value == b'a'\n"
        "slider.index = 1\n"
        "assert view.value == b'b'\n"
        "menu, view = widgets.picker([b'a', b'b'], ['x', 'y']).children\n"
        "menu.index = 1\n"
        "assert view.value == b'b'\n"
        "print('ok')\n")
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert res.returncode == 0 and "ok" in res.stdout, res.stderr[-2000:]


def test_history_frames_share_one_loss_scale_and_label_the_half_line():
    """Every frame of a scrubber draws the losses on the scale of the whole run, so that a
    curve's height means the same thing in every frame; the dotted 1/2 has a legend entry."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = list(range(1, 201))
    history = {"step": steps, "loss_d": [1.4] * 200, "loss_g": [0.7] * 100 + [4.0] * 100,
               "d_real": [0.6] * 200, "d_fake": [0.4] * 200, "d_fake_after": [0.38] * 200}
    limits = []
    for upto in (20, 200):
        _, axes = plt.subplots(1, 2)
        viz.plot_history(history, axes=axes, upto=upto)
        limits.append(axes[0].get_ylim())
        labels = [t.get_text() for t in axes[1].get_legend().get_texts()]
        plt.close("all")
    assert limits[0] == limits[1] and limits[0][1] > 4.0, limits
    assert "D = 1/2" in labels, labels


def test_show_images_names_each_row_at_its_centre():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    images = torch.zeros(6, 1, 10, 10)
    ax = viz.show_images(images, nrow=3, row_labels=["first", "second"], padding=2)
    texts = {t.get_text(): t.get_position() for t in ax.texts}
    assert set(texts) == {"first", "second"}
    assert texts["first"][1] == 2 + 6 and texts["second"][1] == 2 + 12 + 6  # row centres
    assert texts["first"][0] < 0  # left of the grid
    with pytest.raises(ValueError, match="3 row labels for 2 rows of 3 images"):
        viz.show_images(images, nrow=3, row_labels=["a", "b", "c"])
    plt.close("all")
