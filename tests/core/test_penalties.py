"""Gradient penalties against closed forms: for a linear D(x) = w.x + b the input gradient
is w everywhere, so the WGAN-GP penalty is (||w|| - 1)^2 and R1 is ||w||^2, whatever the
samples; and d_step adds them to D's loss with the documented weights."""

import math

import pytest
import torch
from torch import nn

from conftest import judged_separately
from ganlib import d_step, gradient_penalty, make_game, r1_penalty, r2_penalty


class Linear(nn.Module):
    """D(x) = w . flatten(x) + b, logits (B,)."""

    def __init__(self, shape=(3, 4, 4), seed=0):
        super().__init__()
        self.lin = nn.Linear(math.prod(shape), 1)
        with torch.no_grad():
            g = torch.Generator().manual_seed(seed)
            self.lin.weight.copy_(torch.randn(self.lin.weight.shape, generator=g) * 0.3)

    @property
    def w(self):
        return self.lin.weight.detach().flatten()

    def forward(self, x):
        return self.lin(x.flatten(1)).squeeze(1)


class HalfSquaredNorm(nn.Module):
    """D(x) = ||x||^2 / 2, whose input gradient is x itself."""

    def forward(self, x):
        return x.flatten(1).pow(2).sum(1) / 2


def batch(n=6, seed=1):
    return torch.randn(n, 3, 4, 4, generator=torch.Generator().manual_seed(seed))


def test_gradient_penalty_of_a_linear_d_is_closed_form_and_so_is_its_gradient():
    D = Linear()
    gp = gradient_penalty(D, batch(seed=1), batch(seed=2))
    norm = D.w.norm()
    assert gp.item() == pytest.approx((norm.item() - 1) ** 2, rel=1e-5)
    gp.backward()  # through the input gradient: create_graph=True
    want = 2 * (norm - 1) * D.w / norm  # d/dw (||w|| - 1)^2
    assert torch.allclose(D.lin.weight.grad.flatten(), want, atol=1e-6)
    assert D.lin.bias.grad is None or D.lin.bias.grad.abs().max() == 0  # b never moves it


def test_gradient_penalty_interpolates_with_one_eps_per_sample():
    real, fake = batch(seed=1), batch(seed=2)
    gp = gradient_penalty(HalfSquaredNorm(), real, fake, generator=torch.Generator()
                          .manual_seed(5))
    eps = torch.rand(6, 1, 1, 1, generator=torch.Generator().manual_seed(5))
    x_hat = eps * real + (1 - eps) * fake  # grad of ||x||^2 / 2 at x_hat is x_hat
    want = ((x_hat.flatten(1).norm(dim=1) - 1) ** 2).mean()
    assert gp.item() == pytest.approx(want.item(), rel=1e-6)
    # real == fake: every interpolate is that point, whatever eps
    x = batch(seed=3)
    assert gradient_penalty(HalfSquaredNorm(), x, x).item() == pytest.approx(
        ((x.flatten(1).norm(dim=1) - 1) ** 2).mean().item(), rel=1e-6)


def test_r1_of_a_linear_d_is_the_squared_norm_of_w():
    D = Linear()
    real = batch().requires_grad_(True)
    r1 = r1_penalty(D(real), real)
    assert r1.item() == pytest.approx(D.w.pow(2).sum().item(), rel=1e-5)
    r1.backward()
    assert torch.allclose(D.lin.weight.grad.flatten(), 2 * D.w, atol=1e-6)


@pytest.mark.parametrize("joint", [True, False])
def test_d_step_adds_the_weighted_penalties_to_the_loss(joint):
    """One SGD step of lr 1 moves w by minus the gradient of
    E D(fake) - E D(real) + lambda (||w|| - 1)^2 + gamma/2 ||w||^2, in closed form."""
    real, fake, lam, gamma = batch(seed=1), batch(seed=2), 10.0, 0.5
    D = Linear() if joint else judged_separately(Linear())
    w = D.w.clone()
    game = make_game("wasserstein", gp_weight=lam, r1_weight=gamma)
    loss, _, _ = d_step(D, torch.optim.SGD(D.parameters(), lr=1.0), real, fake, game)
    grad = (fake.flatten(1).mean(0) - real.flatten(1).mean(0)
            + lam * 2 * (w.norm() - 1) * w / w.norm() + gamma * w)
    assert torch.allclose(D.w, w - grad, atol=1e-5)
    # the returned loss is the game's alone, without the penalties
    assert loss.item() == pytest.approx((fake.flatten(1) @ w).mean().item()
                                        - (real.flatten(1) @ w).mean().item(), abs=1e-5)


def test_r2_of_a_linear_d_is_the_squared_norm_of_w_at_any_fakes():
    D = Linear()
    fake = batch(seed=4).requires_grad_(True)
    r2 = r2_penalty(D(fake), fake)
    assert r2.item() == pytest.approx(D.w.pow(2).sum().item(), rel=1e-5)
    # at the fakes, not the reals: D(x) = ||x||^2 / 2 has input gradient x
    assert r2_penalty(HalfSquaredNorm()(fake), fake).item() == pytest.approx(
        fake.detach().flatten(1).pow(2).sum(1).mean().item(), rel=1e-5)


@pytest.mark.parametrize("joint", [True, False])
def test_d_step_adds_r1_and_r2_each_at_its_own_samples(joint):
    """D(x) = a * ||x||^2 / 2 with a learned: R1 = a^2 E||real||^2, R2 = a^2 E||fake||^2, and
    one SGD step of lr 1 moves a by minus the gradient of the relativistic loss plus both."""
    real, fake, g1, g2 = batch(seed=1) * 0.3, batch(seed=2) * 0.2, 0.4, 0.9

    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Parameter(torch.tensor(0.5))

        def forward(self, x):
            return self.a * x.flatten(1).pow(2).sum(1) / 2

    D = Scaled() if joint else judged_separately(Scaled())
    a = D.a.detach().clone().requires_grad_(True)
    q_real, q_fake = real.flatten(1).pow(2).sum(1) / 2, fake.flatten(1).pow(2).sum(1) / 2
    want = (torch.nn.functional.softplus(a * q_fake - a * q_real).mean()
            + g1 / 2 * a ** 2 * (2 * q_real).mean() + g2 / 2 * a ** 2 * (2 * q_fake).mean())
    (grad,) = torch.autograd.grad(want, a)
    game = make_game("relativistic", r1_weight=g1, r2_weight=g2)
    d_step(D, torch.optim.SGD(D.parameters(), lr=1.0), real, fake, game)
    assert D.a.item() == pytest.approx((a - grad).item(), abs=1e-6)
    assert [type(t).__name__ for t in game.d_terms] == ["R1", "R2"]
    assert game.grad_at_reals and game.grad_at_fakes and game.paired
