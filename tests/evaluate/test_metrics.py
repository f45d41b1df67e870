import math

import pytest
import torch

from ganlib.evaluate import metrics
from ganlib.data import ImageData, mnist_fallback


def test_frechet_distance_closed_forms():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(20_000, 3, generator=g, dtype=torch.float64)
    assert metrics.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-9)
    # N(0, I) vs N(m, I): the distance is |m|^2
    m = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    assert metrics.frechet_distance(x, x + m) == pytest.approx(m.square().sum().item(), rel=1e-6)
    # x vs s * x: (1 - s)^2 (|mean|^2 + Tr cov), in the sample's own mean and covariance
    s = 3.0
    want = ((1 - s) ** 2 * (x.mean(0).square().sum() + torch.cov(x.T).trace())).item()
    assert metrics.frechet_distance(x, s * x) == pytest.approx(want, rel=1e-6)


def test_frechet_distance_is_symmetric_and_positive():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(500, 4, generator=g), torch.randn(400, 4, generator=g) * 2 + 1
    assert metrics.frechet_distance(a, b) == pytest.approx(metrics.frechet_distance(b, a), rel=1e-6)
    assert metrics.frechet_distance(a, b) > 0


def test_class_coverage():
    uniform = torch.eye(10).repeat(20, 1)  # 200 samples, 20 per class
    cov = metrics.class_coverage(uniform)
    assert cov["hit"] == 10 and cov["kl_to_uniform"] == pytest.approx(0.0, abs=1e-12)
    collapsed = torch.zeros(50, 10)
    collapsed[:, 3] = 1
    cov = metrics.class_coverage(collapsed)
    assert cov["hit"] == 1 and cov["kl_to_uniform"] == pytest.approx(math.log(10))


@pytest.mark.slow
def test_classifier_learns_real_digits_and_gives_features():
    d = mnist_fallback()
    model = metrics.train_classifier(d.images[:1500], d.labels[:1500], epochs=4, seed=0)
    acc = metrics.accuracy(model, d.images[4000:4500], d.labels[4000:4500])
    assert acc > 0.8, acc
    feats, logits = metrics.predict(model, d.images[:10])
    assert feats.shape == (10, 128) and logits.shape == (10, 10)
    # real digits are closer to other real digits than to noise
    real_a, _ = metrics.predict(model, d.images[4000:4400])
    real_b, _ = metrics.predict(model, d.images[4400:4800])
    noise, _ = metrics.predict(model, torch.randint(0, 256, (400, 1, 28, 28), dtype=torch.uint8))
    assert metrics.frechet_distance(real_a, real_b) < metrics.frechet_distance(real_a, noise) / 10


def test_toy_mode_coverage():
    centres = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    samples = torch.tensor([[0.01, 0.0]] * 9 + [[0.5, 0.5]])
    cov = metrics.toy_mode_coverage(samples, centres, std=0.05)
    assert cov["covered"] == 1 and cov["counts"] == [9, 0]
    assert cov["high_quality"] == pytest.approx(0.9)


def test_nearest_neighbours_find_copies():
    pool = torch.randint(0, 256, (50, 1, 8, 8), dtype=torch.uint8)
    idx, dist = metrics.nearest_neighbours(pool[[7, 3]], pool)
    assert idx.tolist() == [7, 3] and dist.abs().max() < 1e-3
    idx, dist = metrics.nearest_neighbours(torch.zeros(2, 1, 8, 8), pool)
    assert (dist > 0).all()


def test_slerp_keeps_endpoints_and_norm():
    from ganlib import slerp

    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(100, generator=g), torch.randn(100, generator=g)
    path = slerp(z0, z1, torch.linspace(0, 1, 5))
    assert path.shape == (5, 100)
    assert torch.allclose(path[0], z0, atol=1e-5) and torch.allclose(path[-1], z1, atol=1e-5)
    norms = path.norm(dim=1)
    assert norms.min() > 0.9 * min(z0.norm(), z1.norm())  # no dip through the origin


def test_wasserstein_1d_against_closed_forms():
    x = torch.randn(1000, generator=torch.Generator().manual_seed(0))
    assert metrics.wasserstein_1d(x, x) == 0
    assert metrics.wasserstein_1d(x, x + 0.3) == pytest.approx(0.3)
    assert metrics.wasserstein_1d(x.unsqueeze(1), (x - 0.3).flip(0)) == pytest.approx(0.3)
    # two point masses 1 apart, with half the mass moved: W1 = 1/2; unequal sizes are fine
    assert metrics.wasserstein_1d(torch.zeros(10), torch.tensor([0.0, 1.0] * 7)) == \
        pytest.approx(0.5)


def test_random_shift_moves_each_image_by_at_most_the_given_pixels():
    from ganlib.evaluate.classifier import random_shift

    x = torch.full((16, 1, 28, 28), -1.0)
    x[:, :, 14, 14] = 1.0  # one bright pixel in the middle
    y = random_shift(x, 2, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and (y == 1).sum() == 16  # each keeps its pixel, moved
    where = (y[:, 0] == 1).nonzero()[:, 1:]
    assert ((where - 14).abs() <= 2).all() and len({tuple(w.tolist()) for w in where}) > 1


@pytest.mark.slow
def test_cached_classifier_trains_once_per_dataset(tmp_path):
    d = mnist_fallback()
    train = ImageData(d.images[:300], d.labels[:300], "a")
    test = ImageData(d.images[4000:4100], d.labels[4000:4100], "b")
    model, acc, cached = metrics.cached_classifier(train, test, tmp_path, epochs=1)
    assert not cached and 0 <= acc <= 1 and len(list(tmp_path.glob("classifier-*.pt"))) == 1
    again, acc2, cached = metrics.cached_classifier(train, test, tmp_path, epochs=1)
    assert cached and acc2 == acc
    x = d.images[:8]
    assert torch.equal(metrics.predict(model, x)[1], metrics.predict(again, x)[1])
    other = ImageData(d.images[300:600], d.labels[300:600], "c")  # other data: another file
    assert not metrics.cached_classifier(other, test, tmp_path, epochs=1)[2]
    assert len(list(tmp_path.glob("classifier-*.pt"))) == 2
