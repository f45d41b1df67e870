"""Per-class measures of conditional generators (ganlib.evaluate.classes): the confusion matrix's
orientation, accuracy and shares on generators whose answers are known, the spread of a class
that has collapsed, the class-by-noise grid, and the interpolations' end points."""

import pytest
import torch

from ganlib import FitConfig, ImageData, fit, make_adam, set_seed, weights_init
from ganlib.evaluate.classes import (class_grid, class_grid_snapshot, class_path, judge, judge_real,
                            noise_path, reference)
from ganlib.evaluate.classifier import train_classifier
from ganlib.models.conditional import ConditionalMLPGenerator, ProjectionMLPDiscriminator
from ganlib.data import pad_images

K = 4


def quadrants(labels, seed=0, noise=0.3):
    """uint8 images (N, 1, 12, 12): class c is a bright quadrant c on noise; easy to read."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(len(labels), 1, 12, 12, generator=g) * noise
    for i, c in enumerate(labels.tolist()):
        r, s = divmod(c, 2)
        x[i, :, 6 * r:6 * r + 6, 6 * s:6 * s + 6] += 0.7
    return (x.clamp(0, 1) * 255).to(torch.uint8)


@pytest.fixture(scope="module")
def clf():
    y = torch.arange(K).repeat(100)
    return train_classifier(quadrants(y), y, epochs=2, seed=0)


class Drawer(torch.nn.Module):
    """A stand-in conditional G: draws class `swap(y)` as quadrant images; `same` draws one
    image per class (a collapsed class)."""

    def __init__(self, swap=lambda y: y, same=False):
        super().__init__()
        self.n_classes, self.swap, self.same = K, swap, same

    def sample(self, n, y, seed):
        if self.same:  # no noise: every image of a class is the same image
            return quadrants(self.swap(y), noise=0.0)
        return quadrants(self.swap(y), seed=seed)


def ref_of(clf, seed=5):
    y = torch.arange(K).repeat(60)
    return reference(clf, ImageData(quadrants(y, seed), y, "quadrants"), n_per_class=50)


def test_judge_reads_a_faithful_g_as_right_and_balanced(clf):
    out = judge(Drawer(), clf, ref_of(clf), n_per_class=30)
    assert out["accuracy"] == 1.0 and out["shares"] == [0.25] * K
    assert torch.equal(out["confusion"], torch.eye(K, dtype=torch.long) * 30)
    assert 0.5 < out["mean_spread"] < 2 and len(out["class_fd"]) == K


def test_the_confusion_matrix_rows_are_the_class_asked_for(clf):
    out = judge(Drawer(swap=lambda y: (y + 1) % K), clf, ref_of(clf), n_per_class=30)
    assert out["accuracy"] == 0.0 and out["per_class_accuracy"] == [0.0] * K
    for c in range(K):  # asked for c, read as c + 1
        assert out["confusion"][c, (c + 1) % K] == 30


def test_a_collapsed_class_has_no_spread_and_a_large_distance(clf):
    ref = ref_of(clf)
    good = judge(Drawer(), clf, ref, n_per_class=30)
    collapsed = judge(Drawer(same=True), clf, ref, n_per_class=30)
    assert collapsed["mean_spread"] < 0.01 < good["mean_spread"]
    assert collapsed["mean_class_fd"] > good["mean_class_fd"]


def test_judge_real_of_held_out_reals_is_the_floor(clf):
    y = torch.arange(K).repeat(40)
    out = judge_real(clf, ImageData(quadrants(y, seed=9), y, "held out"), ref_of(clf))
    assert out["accuracy"] == 1.0 and 0.7 < out["mean_spread"] < 1.4


def test_judge_refuses_a_g_of_other_classes(clf):
    G = ConditionalMLPGenerator(nz=4, n_classes=3, hidden=(8,), img_shape=(1, 12, 12))
    with pytest.raises(ValueError, match="G draws 3 classes, the classifier reads 4"):
        judge(G, clf, ref_of(clf))
    with pytest.raises(ValueError, match="needs labelled real images"):
        reference(clf, ImageData(quadrants(torch.zeros(4, dtype=torch.long)), None, "x"))


def small_g():
    set_seed(0)
    return ConditionalMLPGenerator(nz=5, n_classes=K, hidden=(16,), img_shape=(1, 6, 6),
                                   embed_dim=3).eval()


def test_the_class_grid_has_a_class_per_row_and_a_z_per_column():
    G, z = small_g(), torch.randn(3, 5)
    grid = class_grid(G, z)
    assert grid.shape == (K * 3, 1, 6, 6)
    for c in range(K):
        assert torch.allclose(grid[3 * c:3 * c + 3], G(z, torch.full((3,), c)), atol=1e-6)
    assert torch.allclose(class_grid(G, z, classes=[2])[1], G(z[1:2], torch.tensor([2]))[0],
                          atol=1e-6)


def test_the_paths_start_and_end_where_they_should():
    G, z = small_g(), torch.randn(2, 5)
    path = class_path(G, z[0], 1, 3, steps=5)
    assert path.shape == (5, 1, 6, 6)
    assert torch.allclose(path[0], G(z[:1], torch.tensor([1]))[0], atol=1e-6)
    assert torch.allclose(path[-1], G(z[:1], torch.tensor([3]))[0], atol=1e-6)
    walk = noise_path(G, z[0], z[1], 2, steps=4)
    assert torch.allclose(walk[0], G(z[:1], torch.tensor([2]))[0], atol=1e-5)
    assert torch.allclose(walk[-1], G(z[1:], torch.tensor([2]))[0], atol=1e-5)
    with pytest.raises(ValueError, match=r"\[0, 3\]"):
        class_path(G, z[0], 0, 4)


def test_the_class_grid_snapshot_through_fit():
    G = ConditionalMLPGenerator(nz=5, n_classes=K, hidden=(16,), img_shape=(1, 6, 6))
    D = ProjectionMLPDiscriminator(n_classes=K, img_shape=(1, 6, 6), hidden=(16,))
    G.apply(weights_init), D.apply(weights_init)
    y = torch.arange(K).repeat(4)
    data = ImageData(torch.randint(0, 256, (16, 1, 6, 6), dtype=torch.uint8), y, "noise")
    run = fit(G, D, make_adam(G), make_adam(D), data,
              FitConfig(steps=2, batch_size=8, n_fixed=8, progress=False),
              snapshot_fn=class_grid_snapshot(3))
    assert run.snapshots[-1]["samples"].shape == (K * 3, 1, 6, 6)
    assert run.snapshots[-1]["samples"].dtype == torch.uint8
    with pytest.raises(ValueError, match="n_fixed >= 9"):
        class_grid_snapshot(9)(G, D, torch.randn(8, 5))


def test_pad_images_centres_on_black():
    data = ImageData(torch.full((2, 1, 28, 28), 255, dtype=torch.uint8), torch.tensor([1, 2]),
                     "white")
    padded = pad_images(data, 32)
    assert padded.images.shape == (2, 1, 32, 32) and torch.equal(padded.labels, data.labels)
    assert padded.images[:, :, 2:30, 2:30].eq(255).all() and padded.images.sum() == 2 * 255 * 784
    floats = pad_images(ImageData(torch.zeros(1, 1, 28, 28), None, "gray"), 32).images
    assert floats[0, 0, 0, 0] == -1.0
    with pytest.raises(ValueError, match="give a size >= 28"):
        pad_images(data, 16)


class Sampler(torch.nn.Module):
    """A stand-in two-class G for 1-D data: draws N(mean[c], std[c]^2)."""

    def __init__(self, means, stds):
        super().__init__()
        self.n_classes, self.means, self.stds = 2, means, stds

    def sample(self, n, y, seed):
        c = int(y[0])
        g = torch.Generator().manual_seed(seed)
        return (torch.randn(n, generator=g) * self.stds[c] + self.means[c])[:, None]


def test_overlapping_classes_are_what_they_say():
    from ganlib.data import overlapping_classes

    data = overlapping_classes(5000, generator=torch.Generator().manual_seed(0))
    assert data.images.shape == (10000, 1) and data.labels.bincount().tolist() == [5000] * 2
    left = data.images[data.labels == 0].flatten()
    assert abs(left.mean() + 0.25) < 0.01 and abs(left.std() - 0.2) < 0.01
    # P(N(-0.25, 0.2^2) > 0) = P(Z > 1.25) = 0.106
    assert abs((left > 0).float().mean() - 0.106) < 0.015


def test_overlap_1d_tells_a_faithful_g_from_a_separating_one():
    from ganlib.evaluate.classes import overlap_1d
    from ganlib.data import overlapping_classes

    data = overlapping_classes(5000, generator=torch.Generator().manual_seed(0))
    faithful = overlap_1d(Sampler([-0.25, 0.25], [0.2, 0.2]), data)
    for c in faithful:
        assert abs(c["across"] - c["real_across"]) < 0.02 and c["w1"] < 0.02
        assert abs(c["std"] / c["real_std"] - 1) < 0.05
    apart = overlap_1d(Sampler([-0.4, 0.4], [0.05, 0.05]), data)
    for c in apart:  # nothing on the other side, a quarter of the spread
        assert c["across"] == 0 and c["real_across"] > 0.09 and c["std"] < 0.3 * c["real_std"]
        assert c["w1"] > 0.1
    with pytest.raises(ValueError, match="two classes"):
        overlap_1d(Drawer(), data)
