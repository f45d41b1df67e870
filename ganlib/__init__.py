"""ganlib: the small library every chapter of the GAN book imports.

One module per concern, data flowing one way (see the README's "ganlib" section):
models, losses and data import nothing else from ganlib; train builds on them; checkpoint
saves what train produces; viz and widgets only draw what they are given.

Importing ganlib has no side effects: it seeds nothing, sets no plotting style, and does not
import matplotlib or ipywidgets (the `viz` and `widgets` modules do, when you import them).
"""

from . import dirac  # noqa: F401 (ganlib.dirac.trajectory...: the Dirac-GAN, chapter 5)
from .augment import diff_augment, make_augment, with_instance_noise
from .checkpoint import CheckpointError, load_checkpoint, load_generator, save_checkpoint
from .data import (DataFileError, ImageData, Mixture1D, TensorBatches, grid2d, grid_centres,
                   load_mnist, mnist_fallback, mnist_splits, ring2d, ring_centres)
from .faces import att_faces, extract_att_faces, split_people
from .images import dcgan_data, image_cache
from .losses import (LOSSES, d_loss, d_loss_hinge, d_loss_wasserstein, g_loss, g_loss_hinge,
                     g_loss_minimax, g_loss_nonsaturating, g_loss_wasserstein, loss_pair, value)
from .metrics import class_coverage, frechet_distance, nearest_neighbours, toy_mode_coverage
from .models import (DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator,
                     ToyDiscriminator, ToyGenerator, weights_init)
from .params import ParameterError, check_out_dir, check_params
from .penalties import gradient_penalty, r1_penalty
from .snapshots import (default_snapshot, gan_lab_snapshot, with_g_grad_norm,
                        with_heldout_accuracy)
from .steps import d_step, g_step, make_adam, requires_grad, train_step
from .train import FitConfig, Run, ema_update, fit
from .utils import describe_device, fast_bf16, get_device, set_seed, show_source, slerp

__version__ = "0.1.0"
