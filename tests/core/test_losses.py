import math

import pytest
import torch

from ganlib import losses


def test_d_loss_at_half_is_2_log_2():
    zeros = torch.zeros(10)  # logit 0 <=> D = 1/2
    assert losses.d_loss(zeros, zeros).item() == pytest.approx(2 * math.log(2))
    assert losses.value(zeros, zeros).item() == pytest.approx(-math.log(4))


def test_losses_match_their_probability_forms():
    logits = torch.linspace(-4, 4, 9)
    d = torch.sigmoid(logits)
    assert torch.allclose(losses.g_loss_minimax(logits), torch.log(1 - d).mean())
    assert torch.allclose(losses.g_loss_nonsaturating(logits), -torch.log(d).mean())
    real, fake = logits, logits.flip(0)
    v = torch.log(torch.sigmoid(real)).mean() + torch.log(1 - torch.sigmoid(fake)).mean()
    assert torch.allclose(losses.value(real, fake), v)
    assert torch.allclose(losses.d_loss(real, fake), -v)


def test_one_sided_label_smoothing():
    real, fake = torch.full((4,), 1.5), torch.full((4,), -0.5)
    s = 0.1
    dr, df = torch.sigmoid(real), torch.sigmoid(fake)
    want = -((1 - s) * torch.log(dr) + s * torch.log(1 - dr)).mean() - torch.log(1 - df).mean()
    assert torch.allclose(losses.d_loss(real, fake, label_smoothing=s), want)


def test_losses_stay_finite_for_confident_logits():
    big = torch.tensor([-100.0, 100.0])
    for v in (losses.d_loss(big, big), losses.g_loss_minimax(big),
              losses.g_loss_nonsaturating(big)):
        assert torch.isfinite(v)


def test_minimax_saturates_where_nonsaturating_does_not():
    # D confidently rejects the fake (D(G(z)) ~ 1e-4): the minimax gradient nearly vanishes
    logit = torch.tensor([-9.0], requires_grad=True)
    (g_mm,) = torch.autograd.grad(losses.g_loss_minimax(logit), logit)
    (g_ns,) = torch.autograd.grad(losses.g_loss_nonsaturating(logit), logit)
    assert abs(g_mm.item()) < 1e-3 and abs(g_ns.item()) > 0.99


def test_g_loss_lookup():
    assert losses.g_loss("minimax") is losses.g_loss_minimax
    assert losses.g_loss("wasserstein") is losses.g_loss_wasserstein
    with pytest.raises(ValueError, match="nonsaturating"):
        losses.g_loss("lsgan")


def test_each_game_pairs_its_own_d_loss_and_the_bce_games_share_one():
    assert losses.loss_pair("nonsaturating") == (losses.d_loss, losses.g_loss_nonsaturating)
    assert losses.loss_pair("minimax") == (losses.d_loss, losses.g_loss_minimax)
    assert losses.loss_pair("hinge") == (losses.d_loss_hinge, losses.g_loss_hinge)
    assert losses.loss_pair("wasserstein") == (losses.d_loss_wasserstein,
                                               losses.g_loss_wasserstein)
    assert set(losses.G_LOSSES) == set(losses.LOSSES)
    with pytest.raises(ValueError, match="hinge"):
        losses.loss_pair("Hinge")


def test_hinge_on_hand_computed_logits():
    real = torch.tensor([2.0, 0.5, -1.0])  # margins: 0, 0.5, 2 -> mean 2.5 / 3
    fake = torch.tensor([-3.0, 0.0, 1.0, -0.5])  # 0, 1, 2, 0.5 -> mean 3.5 / 4
    assert losses.d_loss_hinge(real, fake).item() == pytest.approx(2.5 / 3 + 3.5 / 4)
    assert losses.g_loss_hinge(fake).item() == pytest.approx(0.625)  # -(-2.5 / 4)
    zeros = torch.zeros(5)
    assert losses.d_loss_hinge(zeros, zeros).item() == 2.0
    # beyond the margin a sample gives D no gradient; G's loss always has slope -1/B
    real = torch.tensor([1.5, 0.5], requires_grad=True)
    (g,) = torch.autograd.grad(losses.d_loss_hinge(real, torch.full((2,), -2.0)), real)
    assert g.tolist() == [0.0, -0.5]


def test_wasserstein_on_hand_computed_logits():
    real, fake = torch.tensor([3.0, 1.0]), torch.tensor([-1.0, 0.0, 4.0])
    assert losses.d_loss_wasserstein(real, fake).item() == pytest.approx(1.0 - 2.0)
    assert losses.g_loss_wasserstein(fake).item() == pytest.approx(-1.0)
    # shifting every score by a constant changes nothing for D: only differences count
    assert losses.d_loss_wasserstein(real + 7, fake + 7).item() == pytest.approx(-1.0)


def test_relativistic_pairing_on_hand_computed_logits():
    real = torch.tensor([2.0, -1.0, 0.5])
    fake = torch.tensor([0.0, 1.0, 0.5])
    sp = torch.nn.functional.softplus
    assert losses.d_loss_relativistic(real, fake).item() == pytest.approx(
        (sp(torch.tensor(-2.0)) + sp(torch.tensor(2.0)) + sp(torch.tensor(0.0))).item() / 3)
    assert losses.g_loss_relativistic(fake, real).item() == pytest.approx(
        (sp(torch.tensor(2.0)) + sp(torch.tensor(-2.0)) + sp(torch.tensor(0.0))).item() / 3)
    # equal logits: log 2 for both players, and a shift of every logit changes nothing
    assert losses.d_loss_relativistic(real, real).item() == pytest.approx(math.log(2))
    assert losses.d_loss_relativistic(real + 7, fake + 7).item() == pytest.approx(
        losses.d_loss_relativistic(real, fake).item())
    assert losses.loss_pair("relativistic") == (losses.d_loss_relativistic,
                                                losses.g_loss_relativistic)
    assert losses.PAIRED == {"relativistic"}


def test_relativistic_g_gradient_is_minus_sigmoid_of_the_margin():
    """d/d l_fake softplus(l_real - l_fake) = -sigmoid(l_real - l_fake), per pair / B."""
    real = torch.tensor([1.0, -2.0])
    fake = torch.tensor([0.0, 3.0], requires_grad=True)
    losses.g_loss_relativistic(fake, real).backward()
    assert torch.allclose(fake.grad, -torch.sigmoid(real - fake.detach()) / 2)
