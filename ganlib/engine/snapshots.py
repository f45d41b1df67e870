"""What `fit` keeps of the models at each snapshot, for plots and the scrubbing widget.

A snapshot function takes (G, D, fixed_noise) and returns a dict of CPU tensors. `fit` calls
it with both models in eval mode and under `torch.no_grad()`, every `snapshot_every` steps.

* `default_snapshot`: G's samples on the fixed noise (images as uint8, 4x smaller).
* `gan_lab_snapshot(...)`: for 1-D and 2-D toys, also D's output on a grid (the heatmap of
  GAN Lab, arXiv:1809.01587) and the gradient field that the generator's loss induces on
  generated points, i.e. the direction each sample is pushed.
* `with_heldout_accuracy(snapshot_fn, heldout, train)`: wraps any snapshot function and also
  keeps D's verdicts on held-out reals, on training reals and on G's samples: the overfitting
  signal of Karras et al. 2020 ("Training Generative Adversarial Networks with Limited Data",
  arXiv:2006.06676, fig. 1). When D memorises its training images, its outputs on held-out
  reals fall towards those on fakes while those on training reals stay high.
"""

import torch

from ganlib.data import to_unit_range
from ganlib.game import logits_of
from ganlib.losses import PAIRED
from ganlib.losses import g_loss as get_g_loss
from ganlib.models import balanced_labels, is_conditional


def _unpaired_g_loss(name):
    """G's loss `name` as a function of the fake logits alone; a paired game has none."""
    if name in PAIRED:
        raise ValueError(f"g_loss {name!r} pairs each fake with a real, which a snapshot of G "
                         f"alone does not have: pass its unpaired kin, 'nonsaturating'")
    return get_g_loss(name)


def default_snapshot(G, D, fixed_noise):
    """G(fixed_noise): images as uint8 (N, C, H, W), anything else as float on the CPU."""
    x = G(fixed_noise).float().cpu()
    if x.dim() == 4:
        x = x.add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8)
    return {"samples": x}


def gan_lab_snapshot(lim=1.2, resolution=48, arrows=12, g_loss="nonsaturating"):
    """A snapshot function for toy GANs on [-lim, lim]^dim.

    Keeps: samples (N, dim); grid (M, dim) and d = sigmoid(D(grid)) (M,); for 2-D also
    field_at (arrows^2, 2) and field, the negative gradient of the generator loss with respect
    to a sample placed there: where gradient descent on G's loss moves generated points."""
    loss_fn = _unpaired_g_loss(g_loss)

    def snapshot(G, D, fixed_noise):
        device = fixed_noise.device
        samples = G(fixed_noise).float()
        dim = samples.shape[1]
        ticks = torch.linspace(-lim, lim, resolution, device=device)
        grid = ticks.unsqueeze(1) if dim == 1 else torch.cartesian_prod(ticks, ticks).flip(1)
        out = {"samples": samples.cpu(), "grid": grid.cpu(),
               "d": torch.sigmoid(D(grid).float()).cpu()}
        if dim == 2:
            t = torch.linspace(-lim, lim, arrows + 2, device=device)[1:-1]
            at = torch.cartesian_prod(t, t).requires_grad_(True)
            with torch.enable_grad():
                # the per-point loss, summed: its gradient at each point is that point's own
                (grad,) = torch.autograd.grad(loss_fn(D(at).float()) * len(at), at)
            out["field_at"], out["field"] = at.detach().cpu(), (-grad).cpu()
        return out

    return snapshot


def _subset(images, n, seed):
    """(images, labels): a fixed random subset of at most n images of an `ImageData` or a
    tensor, on the CPU, and their labels (None for a tensor or unlabelled data)."""
    labels = getattr(images, "labels", None)
    images = getattr(images, "images", images)
    idx = torch.arange(len(images))
    if len(images) > n:
        idx = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]
        idx = idx.sort().values
    return images[idx], None if labels is None else torch.as_tensor(labels)[idx]


def _verdicts(D, images, labels, device, batch_size):
    """(mean sigmoid(D(x)), share of x with D(x) > 0.5) over `images`, uint8 or [-1, 1], of
    classes `labels` (for a conditional D)."""
    if is_conditional(D) and labels is None:
        raise ValueError("D is conditional: with_heldout_accuracy needs labelled real images, "
                         "an ImageData with labels, to judge them as D(x, y)")
    labels = labels if is_conditional(D) else None  # an unconditional D ignores them
    logits = torch.cat([
        logits_of(D, to_unit_range(images[k:k + batch_size].to(device)),
                  None if labels is None else labels[k:k + batch_size].to(device)).float()
        for k in range(0, len(images), batch_size)])
    return torch.sigmoid(logits).mean().item(), (logits > 0).float().mean().item()


def _fake_labels(D, fixed_noise):
    """The classes a conditional G draws for `fixed_noise` without labels (in turn), or None."""
    if not is_conditional(D):
        return None
    return balanced_labels(len(fixed_noise), D.n_classes).to(fixed_noise.device)


def with_heldout_accuracy(snapshot_fn, heldout, train=None, n=512, batch_size=256, seed=0):
    """`snapshot_fn`, plus D's verdicts at each snapshot on three sets of images:

    * held-out reals (`heldout`: images D never trains on),
    * training reals (`train`, if given),
    * fakes, G(fixed_noise), the samples the snapshots show.

    For each set s in ("heldout", "train", "fake") the snapshot gains d_<s> = the mean of
    sigmoid(D(x)) and real_<s> = the share of images D calls real, D(x) > 0.5 (floats). Karras
    et al.'s r_t = E[sign(D(x_train))] is 2 * real_train - 1. The reals are a fixed random
    subset of n images of each (the same images at every snapshot), uint8 or [-1, 1].

    Like every snapshot, this sees D in eval mode (BatchNorm's running statistics) and on
    un-augmented images, so d_train need not equal the history's d_real, which is measured on
    the training batch in training mode (and on augmented images with FitConfig.augment).

    A conditional D judges each real with its label, D(x, y) (so `heldout` and `train` must
    be `ImageData` with labels), and each fake with the class G drew it for: G(fixed_noise)
    draws the classes in turn (`ganlib.models.conditional.balanced_labels`)."""
    sets = {"heldout": _subset(heldout, n, seed)}
    if train is not None:
        sets["train"] = _subset(train, n, seed + 1)

    def snapshot(G, D, fixed_noise):
        out = dict(snapshot_fn(G, D, fixed_noise))
        device = fixed_noise.device
        for name, (images, labels) in sets.items():
            out[f"d_{name}"], out[f"real_{name}"] = _verdicts(D, images, labels, device,
                                                              batch_size)
        out["d_fake"], out["real_fake"] = _verdicts(D, G(fixed_noise),
                                                    _fake_labels(D, fixed_noise), device,
                                                    batch_size)
        return out

    return snapshot


def with_g_grad_norm(snapshot_fn, g_loss="nonsaturating"):
    """`snapshot_fn`, plus g_grad = the norm of the gradient of G's loss `g_loss` with
    respect to all of G's weights, on the fixed noise, and d_fake = mean D(G(z)): how hard the
    current D pushes G. With the saturating "minimax" loss against a D that rejects the fakes
    confidently it falls towards 0 (chapter 1's table of d loss / d logit, now in training).
    G's weights are untouched: the gradient is computed with autograd.grad, not backward.
    A conditional pair is judged as D(G(z), y), y the classes G(z) draws in turn."""
    loss_fn = _unpaired_g_loss(g_loss)

    def snapshot(G, D, fixed_noise):
        out = dict(snapshot_fn(G, D, fixed_noise))
        params = [p for p in G.parameters() if p.requires_grad]
        if not params:
            raise ValueError("with_g_grad_norm needs a G whose weights require grad: "
                             "not the EMA copy (train with FitConfig.ema=0)")
        with torch.enable_grad():
            logits = logits_of(D, G(fixed_noise), _fake_labels(D, fixed_noise)).float()
            grads = torch.autograd.grad(loss_fn(logits), params)
        out["g_grad"] = torch.sqrt(sum(g.pow(2).sum() for g in grads)).item()
        out["d_fake"] = torch.sigmoid(logits).mean().item()
        return out

    return snapshot
