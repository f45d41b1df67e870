"""The scrub-through-training widget: a play button, a slider over training steps, and the
frame at that step (samples or a GAN-Lab view, with the loss curves up to that step).

It has to work in three places, which is why it is built the way it is:

1. A live Jupyter kernel with ipywidgets 8.
2. Colab, which ships ipywidgets 7.7 and cannot display 8.
3. The static built book, offline, with no Python behind the page.

For (3) the frames cannot be drawn on demand: every frame is rendered once, up front, to a PNG
held by an `Image` widget, and the wiring is done in the browser with `jslink`:
Play.value -> SelectionSlider.index -> Stack.selected_index. The notebook stores the widget
state, and the vendored html-manager replays it in the page, links included. With ipywidgets 7
there is no `Stack`, so the widget falls back to one `Image` whose value a Python observer
swaps: that needs a kernel, which Colab has.

`picker` is the same idea for a choice instead of a time: a dropdown over pictures drawn up
front (a class of a conditional generator, say), linked to the picture shown.

Mark notebook cells that display these with `# NBVAL_IGNORE_OUTPUT`: nbval compares widget reprs
as text, and model ids differ on every run.
"""

import ipywidgets as W

from . import plots


def _frames_view(frames, control, first=0):
    """(view, links): the frame `control.index` picks among `frames` (PNG bytes). With
    ipywidgets >= 8 a Stack of every frame, switched in the browser by a jslink (so it works
    in the static book); with ipywidgets 7 (Colab) one Image whose value a Python observer
    swaps, which needs a kernel."""
    if hasattr(W, "Stack"):
        view = W.Stack([W.Image(value=f, format="png") for f in frames], selected_index=first)
        return view, [W.jslink((control, "index"), (view, "selected_index"))]
    view = W.Image(value=frames[first], format="png")

    def show(change):
        view.value = frames[change["new"]]

    control.observe(show, names="index")
    return view, []


def scrubber(frames, steps, interval=400, description="step"):
    """A widget that scrubs through `frames` (PNG bytes), one per training step in `steps`."""
    if len(frames) != len(steps) or not frames:
        raise ValueError(f"need one frame per step and at least one: got {len(frames)} frames "
                         f"for {len(steps)} steps")
    options = [(f"{s:,}", i) for i, s in enumerate(steps)]
    slider = W.SelectionSlider(options=options, value=0, description=description,
                               continuous_update=True, layout=W.Layout(width="60%"))
    play = W.Play(min=0, max=len(frames) - 1, step=1, interval=interval, value=0,
                  description="play")
    view, links = _frames_view(frames, slider)
    links = [W.jslink((play, "value"), (slider, "index"))] + links
    box = W.VBox([W.HBox([play, slider]), view])
    box.add_class("ganlib-scrubber")
    box.links = links  # the browser-side wiring, kept for inspection
    return box


def training_scrubber(run, draw, dpi=100, history=True, interval=400, figsize=(10, 3.4)):
    """`scrubber` over a `Run`'s snapshots: `draw(ax, snapshot)` on the left of each frame,
    the loss and D-output curves up to that step on the right."""
    frames, steps = plots.training_frames(run, draw, dpi=dpi, history=history, figsize=figsize)
    return scrubber(frames, steps, interval=interval)


def picker(frames, labels, value=0, description="class"):
    """A dropdown over `frames` (PNG bytes), one per option in `labels` (strings), showing the
    frame of the option chosen, at first `value` (an index). Every frame is drawn before it is
    shown, so it works in the static book too (Dropdown.index -> Stack.selected_index, linked
    in the browser); with ipywidgets 7 a Python observer swaps one image instead."""
    if len(frames) != len(labels) or not frames:
        raise ValueError(f"need one frame per option and at least one: got {len(frames)} "
                         f"frames for {len(labels)} options")
    if not 0 <= value < len(frames):
        raise ValueError(f"value must be an option's index, 0 to {len(frames) - 1}; got {value}")
    menu = W.Dropdown(options=[(str(label), i) for i, label in enumerate(labels)], value=value,
                      description=description)
    view, links = _frames_view(frames, menu, first=value)
    box = W.VBox([menu, view])
    box.add_class("ganlib-picker")
    box.links = links  # the browser-side wiring, kept for inspection
    return box
