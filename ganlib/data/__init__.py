"""Data for every chapter, as uint8 images (or float points) scaled to [-1, 1] per batch.

toy.py: 1-D and 2-D mixtures · mnist.py: MNIST and Fashion-MNIST, offline fallbacks ·
faces.py: the AT&T faces · celeba.py, images.py, pixels.py: image folders and zips (CelebA),
decoded once into a uint8 cache · stacked.py: StackedMNIST's 1,000 modes ·
batches.py: `ImageData` and `TensorBatches`.
"""

from .batches import DataFileError, ImageData, TensorBatches, pad_images, to_unit_range
from .faces import att_faces, extract_att_faces, split_people
from .images import dcgan_data, image_cache
from .mnist import (MNIST_5K, MNIST_CLASSES, MNIST_FOLDERS, load_mnist, mnist_fallback, mnist_splits,
                    write_mnist_layout)
from .stacked import N_MODES, stacked_mnist
from .toy import Mixture1D, grid2d, grid_centres, overlapping_classes, ring2d, ring_centres
