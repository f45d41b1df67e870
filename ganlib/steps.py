"""The training step: one discriminator update, then one generator update.

`train_step` is Algorithm 1 of Goodfellow et al. 2014 (arXiv:1406.2661) with k = 1: one
discriminator update, then one generator update. Three details make it faster than the loop
of the classic tutorials without changing what it computes:

* G runs forward once per step. The D update sees `fake.detach()`; the G update
  back-propagates through the very same `fake` (the tutorials run G a second time).
* During the G update D's parameters are frozen (`requires_grad(D, False)`), so autograd
  computes gradients with respect to D's input only, not its weights, which G never needs.
* Unless D mixes the batch, real and fake go through D as one batch of 2B (bigger matrix
  products, half the kernel launches). With BatchNorm or a minibatch standard deviation
  (`ganlib.models.mixes_batch`) they stay separate, since statistics of a mixed batch would
  change what D computes.

The step returns detached 0-d tensors and never calls `.item()`: on a GPU, a host sync per
step would stall the queue of kernels. `fit` gathers them and syncs once every `sync_every`
steps.

`FitConfig.augment` reaches the steps as an `augment` callable (None: none): D sees T(real)
and T(fake) in its update, and G's loss is D(T(G(z))), back-propagated through T
(`ganlib.augment`, DiffAugment; instance noise is one more such T). Under torchrun `fit`
passes G's noise `z` in, this process's rows of the global batch's noise
(`ganlib.distributed`).

Options for Chapter 5's fixes, all off by default (and then the step is the one above):
* `g_loss` names a game of `ganlib.losses.LOSSES`, which picks D's loss too (hinge, Wasserstein).
* `gp_weight`, `r1_weight`: D's loss gains a gradient penalty (`ganlib.penalties`).
* n_critic > 1 D updates per G update (Arjovsky et al. 2017, arXiv:1701.07875, Algorithm 1):
  `real` is then a list of n_critic batches, one per D update, each against fresh fakes; the
  last fake batch is also G's, so k = 1 is exactly the step above.

Labels, for a conditional pair (`ganlib.conditional`): `y`, the real batch's labels, makes the
step call G(z, y) and D(x, y); the fakes are drawn for the labels of the real batch they are
judged against (`ganlib.train` says why). `ac_weight` > 0, with an AC-GAN D
(`forward_with_classes`), adds its class head's cross-entropy (`ganlib.losses.ac_loss`) to
both players' losses, composed like the penalties: D's loss gains ac_weight * (CE on the reals
+ CE on the fakes), G's ac_weight * CE on the fakes (Odena et al. 2017, arXiv:1610.09585).
Without labels every call is the unconditional one above, operation for operation.
"""

import contextlib
import functools

import torch
from torch import nn

from .losses import ac_loss, d_loss, loss_pair
from .models import mixes_batch
from .penalties import gradient_penalty, r1_penalty


METRICS = ("loss_d", "loss_g", "d_real", "d_fake", "d_fake_after")


def requires_grad(model, flag=True):
    """Switch gradient tracking of all of `model`'s parameters on or off."""
    for p in model.parameters():
        p.requires_grad_(flag)


def make_adam(model, lr=2e-4, betas=(0.5, 0.999)):
    """Adam with DCGAN's defaults, fused into one kernel per step where torch supports it.

    Build it after moving `model` to its device (fused Adam checks the device)."""
    try:
        return torch.optim.Adam(model.parameters(), lr=lr, betas=betas, fused=True)
    except (RuntimeError, TypeError):  # a device (or an old torch) without fused Adam
        return torch.optim.Adam(model.parameters(), lr=lr, betas=betas)


def match_param_layouts(opt):
    """Give each of `opt`'s state tensors (Adam's moments) its parameter's memory layout, in
    place. A fused or foreach Adam walks a parameter and its moments as flat memory, so a
    moment saved in NCHW order and stepped against a channels_last parameter (a checkpoint from
    a GPU resumed on a CPU, or `FitConfig.channels_last` changed between runs) would update
    each weight with another weight's moments. `Optimizer.load_state_dict` keeps the saved
    layout, and `model.to(memory_format=...)` changes only the parameters'."""
    for group in opt.param_groups:
        for p in group["params"]:
            state = opt.state.get(p, {})
            for name, v in state.items():
                if torch.is_tensor(v) and v.shape == p.shape and v.stride() != p.stride():
                    state[name] = torch.empty_like(p, dtype=v.dtype).copy_(v)


def has_batchnorm(model):
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def _autocast(device, amp_dtype):
    if amp_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=amp_dtype)


def _judge(D, x, y=None, classes=False):
    """D's logits (B,) on x as float32, D(x), or D(x, y) with labels y (a conditional D); and
    with `classes`, AC-GAN's class logits (B, n_classes) from `forward_with_classes`, else
    None."""
    if classes:
        logits, class_logits = D.forward_with_classes(x)
        return logits.float(), class_logits.float()
    return (D(x) if y is None else D(x, y)).float(), None


def d_step(D, opt_d, real, fake, *, label_smoothing=0.0, amp_dtype=None, joint=None,
           augment=None, loss_fn=d_loss, gp_weight=0.0, r1_weight=0.0, y=None, ac_weight=0.0):
    """One discriminator update on `real` and `fake`, each (B, ...) (images (B, C, H, W) or
    points (B, dim)). `fake` must be detached: this step never touches G.
    `augment` (x -> x'), if given, transforms real and fake alike before D sees them.
    loss_fn(real_logits (B,), fake_logits (B,)) -> 0-d: D's loss (`ganlib.losses`;
    label_smoothing is d_loss's only). D's loss gains gp_weight * gradient_penalty +
    r1_weight / 2 * r1_penalty, both on the images D sees (`ganlib.penalties`); they assume a
    D without BatchNorm (`fit` refuses the combination).
    y: labels (B,) of the reals, and of the fakes, which were drawn for them: D is then called
    as D(x, y). ac_weight: AC-GAN's class cross-entropy on reals and fakes, weighted, joins
    D's loss (D needs `forward_with_classes`, and y).

    Returns (loss 0-d, real_logits (B,), fake_logits (B,)), detached; the loss without the
    penalties and the class term."""
    joint = not mixes_batch(D) if joint is None else joint
    _check_ac(D, y, ac_weight)
    if augment is not None:
        real, fake = augment(real), augment(fake)
    if r1_weight:  # R1 is D's gradient at the reals: autograd must track them from here
        real = real.detach().requires_grad_(True)
    with _autocast(real.device, amp_dtype):
        if joint:
            both = None if y is None else torch.cat([y, y])
            logits, classes = _judge(D, torch.cat([real, fake]), both, bool(ac_weight))  # (2B,)
            real_logits, fake_logits = logits[:len(real)], logits[len(real):]
        else:
            real_logits, real_classes = _judge(D, real, y, bool(ac_weight))  # (B,)
            fake_logits, fake_classes = _judge(D, fake, y, bool(ac_weight))  # (B,)
            classes = torch.cat([real_classes, fake_classes]) if ac_weight else None
        loss = (loss_fn(real_logits, fake_logits, label_smoothing) if label_smoothing
                else loss_fn(real_logits, fake_logits))
        total = loss
        if r1_weight:
            total = total + r1_weight / 2 * r1_penalty(real_logits, real)
        if gp_weight:
            total = total + gp_weight * gradient_penalty(
                D if y is None else (lambda x: D(x, y)), real, fake)
        if ac_weight:  # classes (2B, n_classes): the reals', then the fakes'
            total = total + ac_weight * (ac_loss(classes[:len(real)], y)
                                         + ac_loss(classes[len(real):], y))
    opt_d.zero_grad(set_to_none=True)
    total.backward()
    opt_d.step()
    return loss.detach(), real_logits.detach(), fake_logits.detach()


def g_step(D, opt_g, fake, *, loss_fn, amp_dtype=None, augment=None, y=None, ac_weight=0.0):
    """One generator update through a frozen D. `fake` = G(z) (B, ...), still attached to G's
    graph. `augment`, if given, transforms fake before D, and G's gradient flows back through
    it. loss_fn(fake_logits (B,)) -> 0-d loss (`ganlib.losses`). y: the labels (B,) the fakes
    were drawn for (D is then called as D(x, y)); ac_weight: AC-GAN's class cross-entropy on
    the fakes, weighted, joins G's loss (D needs `forward_with_classes`).

    Returns (loss 0-d, fake_logits (B,)), detached, the loss without the class term; D's
    parameters, their gradients and their requires_grad flags are as they were (a layer the
    caller froze stays frozen)."""
    _check_ac(D, y, ac_weight)
    flags = [p.requires_grad for p in D.parameters()]
    requires_grad(D, False)
    try:
        with _autocast(fake.device, amp_dtype):
            logits, classes = _judge(D, fake if augment is None else augment(fake), y,
                                     bool(ac_weight))  # (B,), (B, n_classes) or None
            loss = loss_fn(logits)
            total = loss + ac_weight * ac_loss(classes, y) if ac_weight else loss
        opt_g.zero_grad(set_to_none=True)
        total.backward()
        opt_g.step()
    finally:
        for p, flag in zip(D.parameters(), flags):
            p.requires_grad_(flag)
    return loss.detach(), logits.detach()


def _check_ac(D, y, ac_weight):
    if ac_weight and (y is None or not hasattr(D, "forward_with_classes")):
        raise ValueError("ac_weight weighs the class head of an AC-GAN D: it needs labels y "
                         "and a D with forward_with_classes (ACGANMLPDiscriminator, "
                         "ACGANDCGANDiscriminator)")


def _fake(G, real, z, amp_dtype, grad, y=None):
    """G(z) for a batch like `real` (z None: fresh noise), or G(z, y) given labels y, in
    real's memory layout."""
    z = torch.randn(real.shape[0], G.nz, device=real.device) if z is None else z
    with _autocast(real.device, amp_dtype), torch.set_grad_enabled(grad):
        fake = G(z) if y is None else G(z, y)
    if real.dim() == 4 and real.is_contiguous(memory_format=torch.channels_last):
        fake = fake.contiguous(memory_format=torch.channels_last)
    return fake


def train_step(G, D, opt_g, opt_d, real, *, g_loss="nonsaturating", label_smoothing=0.0,
               amp_dtype=None, updates="both", augment=None, z=None, gp_weight=0.0,
               r1_weight=0.0, y=None, ac_weight=0.0):
    """One D update, then one G update, on the batch `real` (B, ...) in [-1, 1].

    real: a batch, or a list of n_critic batches: one D update on each, then one G update.
    g_loss: a game of `ganlib.losses.LOSSES` by name (it picks D's loss too), or G's loss
    function (D's is then `d_loss`). updates="d" or "g" performs only that player's update
    (the other is only evaluated), to watch what each update does on its own. augment,
    gp_weight, r1_weight: see `d_step` and `g_step`; the evaluated player's numbers are on
    augmented inputs too, so they mean the same thing. z: G's noise (B, nz) for the last D
    update and the G update, or a list of one per D update; None draws it here. y: the labels
    (B,) of `real` (a list, one per batch, when `real` is a list) for a conditional pair: each
    batch's fakes are drawn for its labels, G(z, y), and D sees D(x, y). ac_weight: see
    `d_step` and `g_step`.

    Returns a dict of detached 0-d tensors: loss_d, loss_g, d_real = mean D(x),
    d_fake = mean D(G(z)) before the (last) D update, d_fake_after = the same after it.
    Raises ValueError for an unknown `updates` or `g_loss`, or label smoothing with a game
    whose D loss is not the cross-entropy."""
    if updates not in ("both", "d", "g"):
        raise ValueError(f"updates must be 'both', 'd' or 'g', got {updates!r}")
    d_loss_fn, loss_fn = loss_pair(g_loss) if isinstance(g_loss, str) else (d_loss, g_loss)
    if label_smoothing:  # of d_loss's cross-entropy target; the other games have none
        if d_loss_fn is not d_loss:
            raise ValueError(f"label_smoothing needs the cross-entropy D loss, not {g_loss!r}'s")
        d_loss_fn = functools.partial(d_loss, label_smoothing=label_smoothing)
    d_kw = dict(loss_fn=d_loss_fn, amp_dtype=amp_dtype, augment=augment, gp_weight=gp_weight,
                r1_weight=r1_weight, ac_weight=ac_weight)
    reals = list(real) if isinstance(real, (list, tuple)) else [real]
    zs = list(z) if isinstance(z, (list, tuple)) else [None] * (len(reals) - 1) + [z]
    ys = (list(y) if isinstance(y, (list, tuple)) else [y]) if y is not None else [None] * len(
        reals)
    if len(ys) != len(reals):
        raise ValueError(f"{len(ys)} batches of labels for {len(reals)} batches of images")
    if updates != "g":  # n_critic > 1: the extra D updates, each on its batch, fresh fakes
        for real_k, z_k, y_k in zip(reals[:-1], zs[:-1], ys[:-1]):
            d_step(D, opt_d, real_k, _fake(G, real_k, z_k, amp_dtype, grad=False, y=y_k),
                   y=y_k, **d_kw)
    real, y = reals[-1], ys[-1]
    fake = _fake(G, real, zs[-1], amp_dtype, grad=updates != "d", y=y)
    seen = (lambda x: x) if augment is None else augment  # what D sees of an image
    if updates == "g":
        with torch.no_grad(), _autocast(real.device, amp_dtype):
            real_logits, fake_logits = _judge(D, seen(real), y)[0], _judge(D, seen(fake), y)[0]
        loss_d = d_loss_fn(real_logits, fake_logits)
    else:
        loss_d, real_logits, fake_logits = d_step(D, opt_d, real, fake.detach(), y=y, **d_kw)
    if updates == "d":
        with torch.no_grad(), _autocast(real.device, amp_dtype):
            fake_logits_after = _judge(D, seen(fake), y)[0]
        loss_g = loss_fn(fake_logits_after)
    else:
        loss_g, fake_logits_after = g_step(D, opt_g, fake, loss_fn=loss_fn, amp_dtype=amp_dtype,
                                           augment=augment, y=y, ac_weight=ac_weight)
    return {"loss_d": loss_d, "loss_g": loss_g,
            "d_real": torch.sigmoid(real_logits).mean(),
            "d_fake": torch.sigmoid(fake_logits).mean(),
            "d_fake_after": torch.sigmoid(fake_logits_after).mean()}
