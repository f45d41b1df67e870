"""Pictures of training: image grids, training curves, GAN-Lab views of toy GANs and runs side
by side (plots.py), and the scrubber and picker widgets (widgets.py). Tensors, arrays and
histories in; nothing here trains.
"""

from .plots import (FAKE_COLOR, OUTCOME_MARKERS, REAL_COLOR, figure_png, image_grid,
                    paired_frames, plot_history, plot_seeds, plot_toy, show_images,
                    training_frames)
