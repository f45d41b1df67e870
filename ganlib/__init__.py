"""ganlib: the small library every chapter of the GAN book imports.

The core, read first: models/, losses.py, penalties.py, augment.py, game.py, steps.py,
config.py, train.py (and utils.py). Around it, rooms named for their purpose: data/ (what is
trained on), engine/ (fit's machinery: checks, checkpoints, resume, tracking, snapshots,
torchrun), evaluate/ (FID, KID and the book's classifier), viz/ (plots and widgets), book/
(the chapters' kit, imported by name) and bench/ (`python -m ganlib.bench`).

Importing ganlib has no side effects and does not import matplotlib, ipywidgets, scipy or
torchmetrics.
"""

import importlib

from .augment import diff_augment, make_augment, with_instance_noise
from .config import FitConfig
from .data import (DataFileError, ImageData, Mixture1D, TensorBatches, att_faces, dcgan_data,
                   extract_att_faces, grid2d, grid_centres, image_cache, load_mnist,
                   mnist_fallback, mnist_splits, ring2d, ring_centres, split_people)
from .engine.checkpoint import CheckpointError, load_checkpoint, load_generator, save_checkpoint
from .engine.safety import TrainingDiverged
from .engine.snapshots import (default_snapshot, gan_lab_snapshot, with_g_grad_norm,
                               with_heldout_accuracy)
from .game import Game, make_game
from .losses import (LOSSES, d_loss, d_loss_hinge, d_loss_relativistic, d_loss_wasserstein,
                     g_loss, g_loss_hinge, g_loss_minimax, g_loss_nonsaturating,
                     g_loss_relativistic, g_loss_wasserstein, loss_pair, value)
from .models import (DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator,
                     ToyDiscriminator, ToyGenerator, weights_init)
from .penalties import gradient_penalty, r1_penalty, r2_penalty
from .steps import d_step, g_step, make_adam, requires_grad, train_step
from .train import Run, ema_update, fit
from .utils import describe_device, fast_bf16, get_device, set_seed, slerp

__version__ = "0.1.0"

# ---------------------------------------------------------------------------- compatibility
# Names that lived at the top of ganlib before its rooms existed, resolved on first use so
# that readers' code keeps working and `import ganlib` stays light.
MOVED = {
    "check_params": "ganlib.book.params", "check_out_dir": "ganlib.book.params",
    "ParameterError": "ganlib.book.params", "show_source": "ganlib.book.show",
    "class_coverage": "ganlib.evaluate.metrics", "frechet_distance": "ganlib.evaluate.metrics",
    "nearest_neighbours": "ganlib.evaluate.metrics",
    "toy_mode_coverage": "ganlib.evaluate.metrics",
}
MOVED_MODULES = {
    "dirac": "ganlib.book.dirac", "compare": "ganlib.book.compare",
    "testbeds": "ganlib.book.testbeds", "presets": "ganlib.book.presets",
    "degrade": "ganlib.book.degrade", "convmath": "ganlib.book.convmath",
    "params": "ganlib.book.params", "inception": "ganlib.evaluate.inception",
    "classifier": "ganlib.evaluate.classifier", "metrics": "ganlib.evaluate.metrics",
    "classes": "ganlib.evaluate.classes", "checkpoint": "ganlib.engine.checkpoint",
    "resume": "ganlib.engine.resume", "snapshots": "ganlib.engine.snapshots",
    "distributed": "ganlib.engine.distributed", "images": "ganlib.data.images",
    "faces": "ganlib.data.faces", "celeba": "ganlib.data.celeba",
    "conditional": "ganlib.models.conditional",
    "conditional_dcgan": "ganlib.models.conditional_dcgan", "widgets": "ganlib.viz.widgets",
}


def __getattr__(name):
    if name in MOVED:
        return getattr(importlib.import_module(MOVED[name]), name)
    if name in MOVED_MODULES:
        return importlib.import_module(MOVED_MODULES[name])
    raise AttributeError(f"module 'ganlib' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(MOVED) | set(MOVED_MODULES))
