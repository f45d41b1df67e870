"""The classic tutorials' training code, kept as they write it, so that ganlib's speed
(`ganlib.bench`) and its time to quality (`ganlib.bench.quality`) are measured against it.

* `classic_loop`: the tutorials' loop. D ends in Sigmoid and is trained with BCELoss; D sees
  real and fake in two passes; in the G step D's weight gradients are computed and thrown
  away; optionally a second forward pass of G for the G step, as the MNIST tutorials do.
  Plain Adam (torch's default foreach implementation), float32.
* `classic_mnist_loader`: the MNIST tutorials' data path: torchvision's MNIST with per-image
  ToTensor + Normalize through a DataLoader.
* `classic_dcgan_loader`: the DCGAN-faces tutorial's: ImageFolder with Resize + CenterCrop +
  ToTensor + Normalize per image (JPEG decoding included), a DataLoader with 2 workers,
  batch 128.

References: pytorch/tutorials beginner_source/dcgan_faces_tutorial.py (the DCGAN-faces
loader and loop); pytorch/examples dcgan/main.py (the same loop); the MNIST GAN tutorials
(eriklindernoren/PyTorch-GAN implementations/gan/gan.py; diegoalejogm/gans, "GANs from
scratch"; and their kind, `ganlib.book.presets`) for the MLP loop, its loader and its second G pass.
This module imports nothing else from ganlib but the data helper that writes MNIST's files.
"""

import time

import torch
from torch import nn

from ganlib.data import write_mnist_layout
from .timing import synchronize


def classic_loop(G, D, loader, device, steps, warmup, fresh_fake, lr_g=2e-4, lr_d=2e-4,
                 betas=(0.5, 0.999), seconds=None):
    """Train G and D with the tutorials' loop on the batches of `loader` ((x, label) pairs),
    `warmup` untimed steps and then `steps` timed ones, running over the epochs as needed.
    fresh_fake=True runs G a second time for the G step (the MNIST tutorials do).
    With `seconds`, it also stops once that much time has passed after the warm-up.
    Returns (timed steps, images per second)."""
    D = nn.Sequential(D, nn.Sigmoid())
    opt_g = torch.optim.Adam(G.parameters(), lr=lr_g, betas=betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=lr_d, betas=betas)
    bce = nn.BCELoss()
    done, t0 = 0, None
    while done < warmup + steps:
        for x, _ in loader:
            if done == warmup:
                synchronize(device)
                t0 = time.perf_counter()
            x = x.to(device)
            b = x.size(0)
            ones, zeros = torch.ones(b, device=device), torch.zeros(b, device=device)
            D.zero_grad()
            err_real = bce(D(x).view(-1), ones)
            err_real.backward()
            fake = G(torch.randn(b, G.nz, device=device))
            err_fake = bce(D(fake.detach()).view(-1), zeros)
            err_fake.backward()
            opt_d.step()
            G.zero_grad()
            if fresh_fake:
                fake = G(torch.randn(b, G.nz, device=device))
            err_g = bce(D(fake).view(-1), ones)
            err_g.backward()
            opt_g.step()
            done += 1
            if done == warmup + steps:
                break
            if seconds and time.perf_counter() - t0 >= seconds:
                steps = done - warmup
                break
    synchronize(device)
    return steps, steps * loader.batch_size / (time.perf_counter() - t0)


def classic_mnist_loader(digits, workdir, batch_size):
    """The MNIST tutorials' data path: `digits` (ImageData) written as IDX files under
    `workdir`, read back by torchvision's MNIST with per-image ToTensor + Normalize, through a
    DataLoader (no workers, shuffled)."""
    import torchvision
    import torchvision.transforms as T

    write_mnist_layout(digits, workdir, "mnist")
    tf = T.Compose([T.ToTensor(), T.Normalize((0.5,), (0.5,))])
    ds = torchvision.datasets.MNIST(str(workdir), train=True, download=False, transform=tf)
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=True, drop_last=True)


def classic_dcgan_loader(folder, image_size=64, batch_size=128, workers=2):
    """The DCGAN-faces tutorial's data path: the JPEGs under `folder`'s subfolders through
    ImageFolder, each decoded, resized, centre-cropped to `image_size` and normalised to
    [-1, 1] in the DataLoader's `workers` processes. drop_last keeps every timed batch full."""
    import torchvision
    import torchvision.transforms as T

    tf = T.Compose([T.Resize(image_size), T.CenterCrop(image_size), T.ToTensor(),
                    T.Normalize((0.5,) * 3, (0.5,) * 3)])
    ds = torchvision.datasets.ImageFolder(str(folder), transform=tf)
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=True,
                                       num_workers=workers, drop_last=True)
