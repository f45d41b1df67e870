"""The training step: Algorithm 1 of Goodfellow et al. 2014 (arXiv:1406.2661).

`d_step` ascends V(D, G) in D's weights, `g_step` descends G's loss through a frozen D, and
`train_step` is the algorithm's loop body: k D updates, then one G update. What later chapters
add (augmentation, penalties, labels, AC-GAN's class term, bf16) arrives in one `Game`
(`ganlib.game`); with the default `Game()`, these functions are the algorithm itself, with
one saving the classic tutorials make too: G's update reuses the fakes of the last D update
(G runs forward once, D's update sees `fake.detach()`) instead of drawing fresh noise.

The step returns detached 0-d tensors and never calls `.item()`: on a GPU a host sync per step
would stall the queue of kernels (`fit` syncs every `sync_every` steps).
"""

import contextlib

import torch

from .game import PLAIN

METRICS = ("loss_d", "loss_g", "d_real", "d_fake", "d_fake_after")


def d_step(D, opt_d, real, fake, game=PLAIN):
    """One D update on a real batch and a detached fake batch, each (B, ...) in [-1, 1].
    Returns (loss, real_logits (B,), fake_logits (B,)), detached; the loss is the game's,
    without its extra terms."""
    real, fake = game.see(real), game.see(fake)  # the same T for both (DiffAugment)
    if game.grad_at_reals:  # R1 is D's gradient at the reals: autograd tracks them from here
        real = real.detach().requires_grad_(True)
    if game.grad_at_fakes:  # R2, the same at the fakes
        fake = fake.detach().requires_grad_(True)
    with game.autocast(real.device):
        real_out, fake_out = game.judge_both(D, real, fake)
        loss = game.d_loss(real_out.logits, fake_out.logits)  # -V(D, G) in the classic game
        total = game.add_terms(loss, game.d_terms, D, real_out, fake_out)
    opt_d.zero_grad(set_to_none=True)
    total.backward()
    opt_d.step()
    return loss.detach(), real_out.logits.detach(), fake_out.logits.detach()


def g_step(D, opt_g, fake, game=PLAIN, real=None):
    """One G update on fake = G(z) (B, ...), still attached to G's graph, through a frozen D;
    `real` (B, ...), the batch G's loss pairs its fakes with, only for a paired game (RpGAN).
    Returns (loss, fake_logits (B,)), detached; D's weights and flags are as they were."""
    if game.paired and real is None:
        raise ValueError("a paired game (g_loss='relativistic') scores each fake against a "
                         "real: pass the real batch, g_step(D, opt_g, fake, game, real)")
    with frozen(D):  # no gradient for D's weights; G's gradient still flows through D
        with game.autocast(fake.device):
            fake_out = game.judge(D, game.see(fake), game.y)  # G's gradient flows through T
            if game.paired:  # D's fresh verdict on the reals, a constant for G
                real_logits = game.judge(D, game.see(real), game.y).logits.detach()
                loss = game.g_loss(fake_out.logits, real_logits)
            else:
                loss = game.g_loss(fake_out.logits)
            total = game.add_terms(loss, game.g_terms, fake_out)
        opt_g.zero_grad(set_to_none=True)
        total.backward()
        opt_g.step()
    return loss.detach(), fake_out.logits.detach()


def train_step(G, D, opt_g, opt_d, real, game=PLAIN):
    """Algorithm 1's loop body on `real`: a batch (B, ...) in [-1, 1] (a tuple (images,
    labels) for a conditional pair), or a list of k such batches: k D updates, each on its
    batch against fresh fakes (WGAN's n_critic), then one G update on the last fakes.

    Returns a dict of detached 0-d tensors: loss_d, loss_g, d_real = mean sigmoid(D(x)),
    d_fake = mean sigmoid(D(G(z))) before the (last) D update, d_fake_after = the same after
    it (on D's own draws of augmentation and dropout). For the hinge and Wasserstein games,
    whose D outputs a score, the sigmoid is only a monotone summary of it."""
    batches = real if isinstance(real, list) else [real]
    for batch in batches[:-1]:  # k > 1: the extra D updates
        x, game_k = game.take(batch)
        d_step(D, opt_d, x, fakes(G, x, game_k).detach(), game_k)
    x, game = game.take(batches[-1])
    fake = fakes(G, x, game)
    loss_d, real_logits, fake_logits = d_step(D, opt_d, x, fake.detach(), game)
    loss_g, fake_logits_after = g_step(D, opt_g, fake, game, x)
    return {"loss_d": loss_d, "loss_g": loss_g, "d_real": torch.sigmoid(real_logits).mean(),
            "d_fake": torch.sigmoid(fake_logits).mean(),
            "d_fake_after": torch.sigmoid(fake_logits_after).mean()}


def fakes(G, real, game=PLAIN):
    """G(z), or G(z, y) for the game's labels: a batch like `real`, in its memory layout."""
    nz = G.module.nz if hasattr(G, "module") else G.nz  # DDP or DataParallel around G
    z = game.noise(real.shape[0], nz, real.device)
    with game.autocast(real.device):
        fake = G(z) if game.y is None else G(z, game.y)
    if real.dim() == 4 and real.is_contiguous(memory_format=torch.channels_last):
        fake = fake.contiguous(memory_format=torch.channels_last)  # D sees one layout
    return fake


@contextlib.contextmanager
def frozen(model):
    """A context in which `model`'s parameters do not require grad; each parameter's flag is
    restored afterwards (a layer the caller froze stays frozen)."""
    flags = [p.requires_grad for p in model.parameters()]
    requires_grad(model, False)
    try:
        yield model
    finally:
        for p, flag in zip(model.parameters(), flags):
            p.requires_grad_(flag)


def requires_grad(model, flag=True):
    """Switch gradient tracking of all of `model`'s parameters on or off."""
    for p in model.parameters():
        p.requires_grad_(flag)


def make_adam(model, lr=2e-4, betas=(0.5, 0.999)):
    """Adam with DCGAN's defaults (Radford et al. 2016), fused into one kernel per step where
    torch supports it. Build it after moving `model` to its device (fused Adam checks it)."""
    try:
        return torch.optim.Adam(model.parameters(), lr=lr, betas=betas, fused=True)
    except (RuntimeError, TypeError):  # a device (or an old torch) without fused Adam
        return torch.optim.Adam(model.parameters(), lr=lr, betas=betas)


class EvaluateOnly:
    """An optimizer's stand-in for a player that is evaluated, never updated
    (FitConfig.updates="d" or "g"): its loss and gradient are computed, its weights stay."""

    def __init__(self, opt):
        self.opt = opt

    def zero_grad(self, set_to_none=True):
        self.opt.zero_grad(set_to_none=set_to_none)

    def step(self):
        pass
