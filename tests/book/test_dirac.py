"""The Dirac-GAN (Mescheder et al. 2018): the closed-form field against autograd of ganlib's
own losses and R1, and the three behaviours of the paper's figure 1."""

import pytest
import torch

from ganlib import r1_penalty

from ganlib.book import dirac


def autograd_field(theta, psi, loss, r1):
    """(-dL_G/dtheta, -dL_D/dpsi), with L_D = the game's D loss + r1/2 * R1, all by autograd."""
    theta = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
    psi = torch.tensor(psi, dtype=torch.float64, requires_grad=True)
    loss_d, loss_g = dirac.game_losses(theta, psi, loss)
    x = torch.zeros(1, 1, dtype=torch.float64, requires_grad=True)  # a batch of one: 0
    loss_d = loss_d + r1 / 2 * r1_penalty(psi * x[:, 0], x)  # D's logit there: psi * x
    (g_theta,) = torch.autograd.grad(loss_g, theta, retain_graph=True)  # shared psi * theta
    (g_psi,) = torch.autograd.grad(loss_d, psi)
    return -g_theta.item(), -g_psi.item()


@pytest.mark.parametrize("loss", ["standard", "nonsaturating", "hinge", "wasserstein"])
@pytest.mark.parametrize("r1", [0.0, 0.7])
def test_the_vector_field_is_minus_each_players_own_gradient(loss, r1):
    gen = torch.Generator().manual_seed(0)
    for theta, psi in (torch.randn(8, 2, generator=gen, dtype=torch.float64) * 2).tolist():
        want = autograd_field(theta, psi, loss, r1)
        got = [v.item() for v in dirac.vector_field(theta, psi, loss, r1)]
        assert got == pytest.approx(want, abs=1e-12)


def test_the_field_works_on_grids_and_the_minimax_one_is_a_rotation():
    theta, psi = torch.meshgrid(torch.linspace(-2, 2, 5), torch.linspace(-2, 2, 5), indexing="ij")
    d_theta, d_psi = dirac.vector_field(theta, psi)
    assert d_theta.shape == (5, 5) and d_psi.dtype == torch.float64
    # perpendicular to (theta, psi): the flow keeps theta^2 + psi^2 (see the module docstring)
    assert torch.allclose(theta * d_theta + psi * d_psi, torch.zeros(5, 5, dtype=torch.float64))


def norms(path):
    return path.norm(dim=1)


def test_simultaneous_steps_spiral_away_from_the_equilibrium():
    path = dirac.trajectory(1.0, 1.0, lr=0.1, steps=1000)
    assert path.shape == (1001, 2) and path[0].tolist() == [1.0, 1.0]
    assert norms(path)[-1] > 1.5 * norms(path)[0]
    assert (norms(path).diff() > 0).all()  # every step moves outwards
    # wasserstein's field is linear, a rotation: each step multiplies the norm by sqrt(1+lr^2)
    path = dirac.trajectory(0.3, -0.4, lr=0.1, steps=50, loss="wasserstein")
    k = torch.arange(51, dtype=torch.float64)
    assert torch.allclose(norms(path), 0.5 * (1 + 0.1 ** 2) ** (k / 2))


def test_alternating_steps_circle_without_converging():
    path = dirac.trajectory(1.0, 1.0, lr=0.1, steps=3000, mode="alternating")
    r = norms(path)
    assert r.max() < 1.05 * r[0] and r[1500:].min() > 0.9 * r[0]  # bounded, not converging
    theta = path[:, 0]
    assert (theta[1:] * theta[:-1] < 0).sum() >= 4  # and it goes round, several times


@pytest.mark.parametrize("mode", ["simultaneous", "alternating"])
def test_r1_makes_both_converge_to_the_equilibrium(mode):
    path = dirac.trajectory(1.0, 1.0, lr=0.1, steps=2000, mode=mode, r1=1.0)
    assert norms(path)[-1] < 1e-3 * norms(path)[0]


def test_bad_names_are_refused():
    with pytest.raises(ValueError, match="mode must be one of"):
        dirac.trajectory(1.0, 1.0, 0.1, 3, mode="sequential")
    with pytest.raises(ValueError, match="loss must be one of"):
        dirac.vector_field(1.0, 1.0, loss="lsgan")


def test_gp_term_is_the_gradient_of_wgan_gps_penalty():
    # D's loss gains lambda * (|psi| - 1)^2 (a linear D's input gradient is psi everywhere)
    theta, psi = torch.tensor(0.7, dtype=torch.float64), torch.tensor(-0.4, dtype=torch.float64,
                                                                        requires_grad=True)
    lam = 10.0
    loss_d = theta * psi + lam * (psi.abs() - 1) ** 2  # Wasserstein: fake logit - real logit
    (grad,) = torch.autograd.grad(loss_d, psi)
    d_theta, d_psi = dirac.vector_field(theta, psi.detach(), "wasserstein", gp=lam)
    assert torch.isclose(d_psi, -grad)
    assert torch.isclose(d_theta, psi.detach())  # G's field is untouched by D's penalty


def test_ttur_and_n_critic_change_only_ds_steps():
    one = dirac.trajectory(0.5, 0.2, lr=0.05, steps=1, mode="alternating", lr_d=0.2, n_critic=3)
    psi = 0.2
    for _ in range(3):  # three D steps at D's own rate, then one G step at G's
        psi += 0.2 * dirac.vector_field(0.5, psi)[1].item()
    theta = 0.5 + 0.05 * dirac.vector_field(0.5, psi)[0].item()
    assert torch.allclose(one[1], torch.tensor([theta, psi], dtype=torch.float64))
    with pytest.raises(ValueError, match="only with mode='alternating'"):
        dirac.trajectory(1.0, 1.0, 0.1, 3, n_critic=5)


def test_ema_path_is_the_exponential_average_and_centres_a_circle():
    path = dirac.trajectory(1.0, 1.0, lr=0.1, steps=3000, mode="alternating")
    assert torch.equal(dirac.ema_path(path, 0.0), path)
    avg = dirac.ema_path(path, 0.99)
    assert torch.allclose(avg[2], 0.99 * (0.99 * path[0] + 0.01 * path[1]) + 0.01 * path[2])
    # the players circle at radius ~1.4; the average of a circle sits near its centre
    assert norms(avg[-500:]).max() < 0.5 * norms(path[-500:]).min()
    with pytest.raises(ValueError, match="beta must be in"):
        dirac.ema_path(path, 1.0)


def test_update_eigenvalues_match_the_closed_forms():
    lr, c = 0.05, 0.5  # c = sigmoid(0) for the cross-entropy games
    sim = dirac.update_eigenvalues(lr, "simultaneous")
    assert torch.allclose(sim.abs(), torch.full((2,), (1 + (c * lr) ** 2) ** 0.5,
                                                dtype=torch.float64))  # 1 +- i c lr
    alt = dirac.update_eigenvalues(lr, "alternating")
    assert torch.allclose(alt.abs(), torch.ones(2, dtype=torch.float64))  # det 1: a circle
    assert torch.linalg.det(dirac.update_jacobian(lr, "alternating")).item() == pytest.approx(1)
    for mode in ("simultaneous", "alternating"):  # R1: inside the unit circle
        assert dirac.update_eigenvalues(lr, mode, r1=0.3).abs().max() < 1
    # wasserstein (c = 1) without a penalty: simultaneous steps leave by sqrt(1 + lr^2)
    w = dirac.update_eigenvalues(lr, "simultaneous", loss="wasserstein")
    assert w.abs().max().item() == pytest.approx((1 + lr ** 2) ** 0.5)


def test_instance_noise_is_r1_with_gamma_sigma_squared_over_two_near_the_equilibrium():
    sigma = 0.5
    noisy = dirac.update_jacobian(0.05, "simultaneous", noise=sigma)
    r1 = dirac.update_jacobian(0.05, "simultaneous", r1=sigma ** 2 / 2)
    assert torch.allclose(noisy, r1, atol=1e-9)
    # and far from it the field is the average of the noiseless field's pieces: at sigma -> 0
    # it is the noiseless field
    got = dirac.vector_field(0.7, -0.4, noise=1e-6)
    want = dirac.vector_field(0.7, -0.4)
    assert all(a.item() == pytest.approx(b.item(), abs=1e-6) for a, b in zip(got, want))
    with pytest.raises(ValueError, match="cross-entropy games"):
        dirac.vector_field(1.0, 1.0, loss="hinge", noise=0.1)


def test_annealed_noise_converges_while_on_and_wgan_gp_drifts_with_the_sign_of_psi():
    held = dirac.trajectory(1, 1, 0.05, 800, "alternating", noise=0.5).norm(dim=1)
    assert held[-1] < 0.2 * held[0]
    gp_up = dirac.trajectory(1, 1, 0.05, 400, "alternating", loss="wasserstein", gp=10)
    gp_down = dirac.trajectory(1, -1, 0.05, 400, "alternating", loss="wasserstein", gp=10)
    assert gp_up[-1, 0] > 5 and gp_down[-1, 0] < -5  # theta runs off the way psi points
