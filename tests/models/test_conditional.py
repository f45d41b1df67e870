"""The conditional models (ganlib.models.conditional): shapes, labels checked with clear messages,
class balance by construction, and the projection discriminator's closed form; labels through
the one `fit` (its steps, resume, checkpoints, AC-GAN's class term); and the unconditional path
unchanged by them, bit for bit."""

import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from conftest import params, same
from ganlib import (DCGANDiscriminator, DCGANGenerator, FitConfig, ImageData,
                    MLPDiscriminator, MLPGenerator, TensorBatches, d_step, fit, g_step,
                    load_checkpoint, load_generator, make_adam, make_game, set_seed,
                    train_step, weights_init)
from ganlib.steps import EvaluateOnly
from ganlib.engine.checkpoint import load_model, model_record
from ganlib.models import MODELS, kind_of
from ganlib.models.conditional import (ACGANMLPDiscriminator, ConcatMLPDiscriminator,
                                ConditionalMLPGenerator, ProjectionMLPDiscriminator,
                                balanced_labels, check_labels)
from ganlib.models.conditional_dcgan import (ACGANDCGANDiscriminator, ConcatDCGANDiscriminator,
                                      ConditionalDCGANGenerator, ProjectionDCGANDiscriminator)
from ganlib.losses import ac_loss, d_loss, g_loss_nonsaturating

SMALL = dict(img_shape=(1, 8, 8), n_classes=4)


def small_g(**kw):
    return ConditionalMLPGenerator(nz=6, hidden=(16,), embed_dim=3, **SMALL, **kw)


@pytest.mark.parametrize("D_cls", [ConcatMLPDiscriminator, ProjectionMLPDiscriminator,
                                   ACGANMLPDiscriminator])
@pytest.mark.parametrize("spectral_norm", [False, True])
def test_shapes_of_every_pair(D_cls, spectral_norm):
    torch.manual_seed(0)
    G, D = small_g(), D_cls(hidden=(16, 8), spectral_norm=spectral_norm, **SMALL)
    y = torch.tensor([0, 1, 2, 3, 3])
    x = G(torch.randn(5, 6), y)
    assert x.shape == (5, 1, 8, 8) and x.abs().max() <= 1
    assert D(x, y).shape == (5,)
    if D_cls is ACGANMLPDiscriminator:
        D.eval()  # no dropout, no power iteration: the same input gives the same logits
        logit, classes = D.forward_with_classes(x)
        assert logit.shape == (5,) and classes.shape == (5, 4)
        assert torch.equal(logit, D(x))  # the label is not an input of AC-GAN's D


def test_sample_draws_every_class_equally_and_is_seeded():
    G = small_g()
    assert balanced_labels(10, 4).tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]
    a, b = G.sample(8, seed=3), G.sample(8, seed=3)
    assert torch.equal(a, b) and a.shape == (8, 1, 8, 8)
    # the same noise with other labels gives other images: the label is used
    assert not torch.equal(G.sample(8, y=torch.zeros(8, dtype=torch.long), seed=3), a)


def test_the_label_changes_the_projection_logit_by_the_embedding_difference():
    torch.manual_seed(0)
    D = ProjectionMLPDiscriminator(hidden=(16, 8), dropout=0.0, **SMALL).eval()
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        h = D.phi(x)
        diff = D(x, torch.tensor([1, 1, 1])) - D(x, torch.tensor([2, 2, 2]))
        expected = ((D.embed.weight[1] - D.embed.weight[2]) * h).sum(1)
    assert torch.allclose(diff, expected, atol=1e-6)


@pytest.mark.parametrize("bad, message", [
    (torch.tensor([0, 4]), r"labels must be in \[0, 3\] for a model of 4 classes; got \[4\]"),
    (torch.tensor([-1, 2]), r"got \[-1\]"),
    (torch.tensor([0.0, 1.0]), "integers in \\[0, 3\\].*not one-hot"),
    (torch.zeros(2, 4, dtype=torch.long), r"shape \(B,\)"),
    (torch.tensor([0, 1, 2]), "3 labels for 2 images"),
])
def test_bad_labels_are_refused_with_the_allowed_range(bad, message):
    G = small_g()
    with pytest.raises(ValueError, match=message):
        G(torch.randn(2, 6), bad)
    D = ConcatMLPDiscriminator(hidden=(8,), **SMALL)
    with pytest.raises(ValueError, match=message):
        D(torch.randn(2, 1, 8, 8), bad)


def test_sample_refuses_a_label_outside_the_classes():
    with pytest.raises(ValueError, match=r"\[0, 3\].*got \[7\]"):
        small_g().sample(2, y=[7, 0])
    assert check_labels([0, 3], 4).dtype == torch.long


def test_g_without_labels_draws_the_classes_in_turn():
    """What snapshots and score functions written for unconditional generators see."""
    G = small_g().eval()
    z = torch.randn(6, 6)
    assert torch.equal(G(z), G(z, balanced_labels(6, 4)))


DCGAN_DS = [ConcatDCGANDiscriminator, ProjectionDCGANDiscriminator, ACGANDCGANDiscriminator]


@pytest.mark.parametrize("D_cls", DCGAN_DS)
@pytest.mark.parametrize("options", [{}, {"spectral_norm": True}, {"batchnorm": False}])
def test_the_conditional_dcgan_discriminators_shapes(D_cls, options):
    torch.manual_seed(0)
    G = ConditionalDCGANGenerator(nz=8, n_classes=4, ngf=4, nc=1, image_size=32)
    y = torch.tensor([0, 1, 2, 3, 3])
    x = G(torch.randn(5, 8), y)
    assert x.shape == (5, 1, 32, 32) and x.abs().max() <= 1
    D = D_cls(n_classes=4, ndf=4, nc=1, image_size=32, **options)
    assert D(x, y).shape == (5,)
    if D_cls is ACGANDCGANDiscriminator:
        source, classes = D.forward_with_classes(x)
        assert source.shape == (5,) and classes.shape == (5, 4)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\]"):
        D(x, torch.tensor([0, 1, 2, 3, 4]))


def test_the_projection_dcgan_logit_moves_by_the_embedding_difference():
    torch.manual_seed(0)
    x = torch.rand(5, 1, 32, 32) * 2 - 1
    D = ProjectionDCGANDiscriminator(n_classes=4, ndf=4, nc=1, image_size=32).eval()
    with torch.no_grad():  # the label moves the logit by <embed(a) - embed(b), sum phi(x)>
        diff = D(x, torch.full((5,), 1)) - D(x, torch.full((5,), 2))
        expected = ((D.embed.weight[1] - D.embed.weight[2]) * D.phi(x).sum((2, 3))).sum(1)
    assert torch.allclose(diff, expected, atol=1e-5)


def test_the_concat_dcgan_d_sees_the_label_as_constant_channels():
    """D(x, y) is the plain DCGAN D on the image stacked with embed(y) at every pixel."""
    torch.manual_seed(0)
    x, y = torch.rand(3, 1, 32, 32) * 2 - 1, torch.tensor([2, 0, 3])
    D = ConcatDCGANDiscriminator(n_classes=4, ndf=4, nc=1, image_size=32, embed_dim=3).eval()
    maps = D.embed.weight[y][:, :, None, None].expand(-1, -1, 32, 32)
    with torch.no_grad():
        want = D.psi(D.phi(torch.cat([x, maps], 1))).flatten()
        assert torch.allclose(D(x, y), want)
        assert not torch.allclose(D(x, y), D(x, torch.tensor([1, 1, 1])))


def test_the_acgan_dcgan_d_ignores_the_label():
    torch.manual_seed(0)
    x = torch.rand(3, 1, 32, 32) * 2 - 1
    D = ACGANDCGANDiscriminator(n_classes=4, ndf=4, nc=1, image_size=32).eval()
    with torch.no_grad():
        assert torch.equal(D(x, torch.tensor([0, 1, 2])), D(x, torch.tensor([3, 3, 3])))
        assert torch.equal(D(x), D.forward_with_classes(x)[0])


# ----------------------------------------------------------------------------- the registry

@pytest.mark.parametrize("model", [
    small_g(), ConcatMLPDiscriminator(hidden=(8,), **SMALL),
    ProjectionMLPDiscriminator(hidden=(8,), spectral_norm=True, **SMALL),
    ACGANMLPDiscriminator(hidden=(8,), **SMALL),
    ConditionalDCGANGenerator(nz=8, n_classes=4, ngf=4, nc=1, image_size=32),
    ProjectionDCGANDiscriminator(n_classes=4, ndf=4, nc=1, image_size=32, spectral_norm=True),
    ConcatDCGANDiscriminator(n_classes=4, ndf=4, nc=1, image_size=32, embed_dim=3),
    ACGANDCGANDiscriminator(n_classes=4, ndf=4, nc=1, image_size=32, batchnorm=False)])
def test_every_conditional_model_rebuilds_from_its_record(model):
    clone = load_model(model_record(model))
    assert type(clone) is type(model) and clone.hparams == model.hparams
    assert clone.hparams["n_classes"] == 4 and MODELS[kind_of(model)] is type(model)
    assert same(params(clone), params(model))


# ----------------------------------------------------------------------------- unconditional

def labelled(n=48, side=8, n_classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 1, side, side), generator=g, dtype=torch.uint8)
    return ImageData(x, torch.randint(0, n_classes, (n,), generator=g), "labelled noise")


def total(*models):
    return sum(t.detach().double().sum().item()
               for m in models for t in [*m.parameters(), *m.buffers()])


def test_unconditional_fit_equals_the_plain_algorithm_bit_for_bit():
    """An unconditional pair on labelled data trains on the images alone, exactly as the
    algorithm written out by hand: the same batches, noise, dropout and arithmetic."""
    def pair():
        set_seed(0)
        G = MLPGenerator(nz=8, hidden=(16,), img_shape=(1, 8, 8))
        D = MLPDiscriminator(img_shape=(1, 8, 8), hidden=(16,), dropout=0.3)
        return G, D, make_adam(G), make_adam(D)

    data, B, steps = labelled(), 8, 8  # 6 batches an epoch: the run crosses an epoch
    G, D, og, od = pair()
    fit(G, D, og, od, data, FitConfig(steps=steps, batch_size=B, progress=False, amp=False,
                                      snapshot_every=3))
    G_ref, D_ref, og_ref, od_ref = pair()
    for step in range(steps):
        epoch, k = divmod(step, len(data) // B)
        perm = torch.randperm(len(data), generator=torch.Generator().manual_seed(epoch))
        real = data.images[perm[k * B:(k + 1) * B]].float().div_(127.5).sub_(1.0)
        fake = G_ref(torch.randn(B, 8))
        logits = D_ref(torch.cat([real, fake.detach()])).float()
        od_ref.zero_grad(set_to_none=True)
        d_loss(logits[:B], logits[B:]).backward()
        od_ref.step()
        D_ref.requires_grad_(False)
        og_ref.zero_grad(set_to_none=True)
        g_loss_nonsaturating(D_ref(fake).float()).backward()
        og_ref.step()
        D_ref.requires_grad_(True)
    assert same(params(G), params(G_ref)) and same(params(D), params(D_ref))


# Recorded at commit ada9b9c, before labels reached fit (1 and 2 threads agree to 1e-8): the
# loss of every step and the sum of every weight, for three unconditional runs that use the
# options a change of the step could disturb ("bn_dcgan" recorded again at a3f501a, before the
# rooms, without the label smoothing FitConfig no longer offers). A changed random stream
# (noise, dropout, DiffAugment, the penalties' draws) moves the losses by far more than the
# tolerance.
PINNED = {
    "mlp": ([1.369537115097046, 1.3650445938110352, 1.325178861618042, 1.3802051544189453,
             1.3368632793426514],
            [0.7653737664222717, 0.7809792757034302, 0.7552914023399353, 0.7636362910270691,
             0.7792304754257202], -3.0819479348392633),
    "sn_dcgan_gp_r1_ncritic": ([2.0109548568725586, 2.0828211307525635, 2.0877256393432617],
                               [0.0008237691363319755, 0.0009004800813272595,
                                -0.0021728489082306623], 120.95518095157058),
    "bn_dcgan": ([1.3240655660629272, 1.3702123165130615, 1.3239011764526367],
                 [0.6304821372032166, 0.6802083253860474, 0.748981237411499],
                 107.44747957068375),
}


def pinned_run(name):
    set_seed(0)
    fixed = dict(batch_size=8, progress=False, amp=False, channels_last=False)
    if name == "mlp":
        G = MLPGenerator(nz=8, hidden=(16,), img_shape=(1, 8, 8))
        D = MLPDiscriminator(img_shape=(1, 8, 8), hidden=(16,), dropout=0.3)
        data, cfg = labelled(), FitConfig(steps=5, snapshot_every=2, **fixed)
    else:
        G = DCGANGenerator(nz=8, ngf=4, nc=1, image_size=32)
        D = DCGANDiscriminator(ndf=4, nc=1, image_size=32, spectral_norm=name != "bn_dcgan")
        G.apply(weights_init), D.apply(weights_init)
        data = labelled(side=32)
        cfg = FitConfig(steps=3, n_critic=2, gp_weight=10.0, r1_weight=1.0,
                        augment="translation", g_loss="hinge", ema=0.9, **fixed)
        if name == "bn_dcgan":
            data = data.images
            cfg = FitConfig(steps=3, instance_noise=0.1, **fixed)
    run = fit(G, D, make_adam(G), make_adam(D), data, cfg)
    ema = [] if run.G_ema is None else [run.G_ema]
    return run.history["loss_d"], run.history["loss_g"], total(G, D, *ema)


@pytest.mark.parametrize("name", sorted(PINNED))
def test_unconditional_runs_match_those_recorded_before_labels(name):
    loss_d, loss_g, weights = pinned_run(name)
    want_d, want_g, want_weights = PINNED[name]
    assert loss_d == pytest.approx(want_d, rel=1e-5, abs=1e-6)
    assert loss_g == pytest.approx(want_g, rel=1e-5, abs=1e-6)
    assert weights == pytest.approx(want_weights, rel=1e-7)


# ----------------------------------------------------------------------------- labels in fit

def cond_pair(D_cls=ProjectionMLPDiscriminator, seed=0, n_classes=4, **d_kw):
    set_seed(seed)
    G = ConditionalMLPGenerator(nz=6, n_classes=n_classes, hidden=(16,), img_shape=(1, 8, 8),
                                embed_dim=3)
    D = D_cls(n_classes=n_classes, img_shape=(1, 8, 8), hidden=(16, 8), **d_kw)
    return G, D, make_adam(G), make_adam(D)


def dcgan_cond_pair(seed=0, n_classes=4, D_cls=ProjectionDCGANDiscriminator):
    set_seed(seed)
    G = ConditionalDCGANGenerator(nz=8, n_classes=n_classes, ngf=4, nc=1, image_size=32)
    D = D_cls(n_classes=n_classes, ndf=4, nc=1, image_size=32)
    G.apply(weights_init), D.apply(weights_init)
    return G, D, make_adam(G), make_adam(D)


def cfg(**kw):
    return FitConfig(**{"batch_size": 8, "progress": False, "n_fixed": 8} | kw)


class Spy:
    """Records the labels each call of a model's forward gets."""

    def __init__(self, model):
        self.labels, forward = [], model.forward
        model.forward = lambda x, y=None: self.labels.append(y) or forward(x, y)


@pytest.mark.parametrize("D_cls, extra", [(ConcatMLPDiscriminator, {}),
                                          (ProjectionMLPDiscriminator, {}),
                                          (ACGANMLPDiscriminator, {"ac_weight": 1.0})])
def test_fit_draws_each_fake_for_the_labels_of_its_real_batch(D_cls, extra):
    G, D, og, od = cond_pair(D_cls)
    data = labelled(n=32)
    g_spy, d_spy = Spy(G), Spy(D)
    run = fit(G, D, og, od, data, cfg(steps=3, n_critic=2, **extra))
    batches = TensorBatches(data, 8, labels=data.labels)
    want = [y for e in range(2) for _, y in batches.epoch(e)][:6]  # 2 batches a step
    # without check_shapes' first call, and the snapshots' (no labels: classes in turn)
    g_labels = [y for y in g_spy.labels if y is not None][1:]
    assert len(g_labels) == 6 and all(torch.equal(a, b) for a, b in zip(g_labels, want))
    if D_cls is not ACGANMLPDiscriminator:  # D(cat[real, fake], cat[y, y]), then D(fake, y)
        seen = [y for y in d_spy.labels if y is not None][1:]
        assert torch.equal(seen[0], torch.cat([want[0], want[0]]))
        assert torch.equal(seen[-1], want[5])
    assert run.snapshots[-1]["samples"].shape == (8, 1, 8, 8)
    assert all(math.isfinite(v) for v in run.history["loss_d"] + run.history["loss_g"])


@pytest.mark.parametrize("D_cls", DCGAN_DS)
def test_the_conditional_dcgan_pair_trains_through_fit(D_cls):
    G, D, og, od = dcgan_cond_pair(D_cls=D_cls)
    ac = {"ac_weight": 1.0} if D_cls is ACGANDCGANDiscriminator else {}
    run = fit(G, D, og, od, labelled(n=32, side=32), cfg(steps=2, **ac))
    assert run.snapshots[-1]["samples"].shape == (8, 1, 32, 32) and run.step == 2


@pytest.mark.parametrize("D_cls, ac", [(ProjectionMLPDiscriminator, 0.0),
                                       (ACGANMLPDiscriminator, 1.0)])
def test_the_d_step_never_moves_g_in_the_conditional_path(D_cls, ac):
    G, D, og, od = cond_pair(D_cls)
    y = torch.tensor([0, 1, 2, 3, 1, 0])
    real = torch.rand(6, 1, 8, 8) * 2 - 1
    g0, d0 = params(G), params(D)
    game = replace(make_game(ac_weight=ac), y=y)
    d_step(D, od, real, G(torch.randn(6, 6), y).detach(), game)
    assert same(params(G), g0) and all(p.grad is None for p in G.parameters())
    assert not same(params(D), d0)
    d1 = params(D)
    train_step(G, D, EvaluateOnly(og), od, (real, y), make_game(ac_weight=ac))
    assert same(params(G), g0) and not same(params(D), d1)


@pytest.mark.parametrize("pair, side", [(cond_pair, 8), (dcgan_cond_pair, 32)])
def test_resume_of_a_conditional_run_is_bit_exact(pair, side, tmp_path):
    data, n = labelled(n=40, side=side), 5  # 5 batches an epoch, the checkpoint mid-epoch
    G_full, D_full, og, od = pair()
    full = fit(G_full, D_full, og, od, data, cfg(steps=2 * n, snapshot_every=2))
    path = str(tmp_path / "ck.pt")
    G, D, og, od = pair()
    fit(G, D, og, od, data, cfg(steps=n, snapshot_every=2, checkpoint_path=path))
    ckpt = load_checkpoint(path)
    assert ckpt["generator"]["hparams"]["n_classes"] == 4
    assert ckpt["discriminator"]["hparams"]["n_classes"] == 4
    G, D, og, od = pair(seed=123)  # a fresh process's models
    resumed = fit(G, D, og, od, data, cfg(steps=2 * n, snapshot_every=2, checkpoint_path=path))
    assert resumed.resumed_from == n and resumed.history == full.history
    assert same(params(G) + params(D) + list(G.buffers()) + list(D.buffers()),
                params(G_full) + params(D_full) + list(G_full.buffers()) + list(D_full.buffers()))
    by_step = {s["step"]: s["samples"] for s in resumed.snapshots}
    assert all(torch.equal(by_step[s["step"]], s["samples"]) for s in full.snapshots)


def test_resume_refuses_another_number_of_classes(tmp_path):
    path = str(tmp_path / "ck.pt")
    G, D, og, od = cond_pair()
    fit(G, D, og, od, labelled(n=32), cfg(steps=2, checkpoint_path=path))
    G, D, og, od = cond_pair(n_classes=5)
    with pytest.raises(ValueError, match=r"(?s)cannot resume.*'n_classes': 4.*'n_classes': 5"):
        fit(G, D, og, od, labelled(n=32), cfg(steps=4, checkpoint_path=path))
    G, D, og, od = cond_pair(ConcatMLPDiscriminator)  # same hparams' names, another kind
    with pytest.raises(ValueError, match="discriminator's kind: 'projection_mlp_d' -> "
                                         "'concat_mlp_d'"):
        fit(G, D, og, od, labelled(n=32), cfg(steps=4, checkpoint_path=path))


@pytest.mark.parametrize("pair, side", [(cond_pair, 8), (dcgan_cond_pair, 32)])
def test_load_generator_rebuilds_a_conditional_g(pair, side, tmp_path):
    path = str(tmp_path / "ck.pt")
    G, D, og, od = pair()
    fit(G, D, og, od, labelled(n=32, side=side), cfg(steps=2, checkpoint_path=path,
                                                     channels_last=False))
    loaded = load_generator(path)
    assert type(loaded) is type(G) and loaded.n_classes == 4 and not loaded.training
    y = torch.tensor([3, 2, 1, 0, 0, 1, 2, 3])
    assert torch.equal(loaded.sample(8, y=y, seed=5), G.sample(8, y=y, seed=5))
    assert torch.equal(loaded.sample(8, seed=5), G.sample(8, seed=5))


def test_fit_refuses_bad_labels_naming_the_allowed_range():
    G, D, og, od = cond_pair()
    data = labelled(n=32)
    data.labels[17] = 4  # not in the first batch: every label is checked before training
    before = params(G)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\] for a model of 4 "
                                         r"classes; got \[4\]"):
        fit(G, D, og, od, data, cfg(steps=2))
    assert same(params(G), before)

    class Batches:  # the caller's own batches of (x, y)
        def __len__(self):
            return 2

        def epoch(self, e, start=0):
            for _ in range(start, 2):
                yield torch.zeros(8, 1, 8, 8), torch.tensor([0, 1, 2, 3, 4, 5, 6, -1])

    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\].*got \[-1, 4, 5, 6\]"):
        fit(G, D, og, od, Batches(), cfg(steps=2))


@pytest.mark.parametrize("make, extra, message", [
    (lambda: cond_pair(), {}, r"G is conditional \(4 classes\): it needs labelled data"),
    (lambda: cond_pair(ACGANMLPDiscriminator), {"labels": True},
     r"AC-GAN D never sees the labels.*ac_weight=1.0"),
    (lambda: cond_pair(), {"labels": True, "ac_weight": 1.0},
     "ProjectionMLPDiscriminator does not have"),
    (lambda: (ConditionalMLPGenerator(nz=6, n_classes=3, img_shape=(1, 8, 8)),
              *cond_pair()[1:]), {"labels": True}, "G has 3 classes, D 4"),
    (lambda: (MLPGenerator(nz=6, img_shape=(1, 8, 8)), *cond_pair()[1:]), {"labels": True},
     r"D \(ProjectionMLPDiscriminator\) takes class labels but G does not"),
])
def test_fit_refuses_models_and_data_that_do_not_go_together(make, extra, message):
    G, D, og, od = make()
    data = labelled(n=32)
    data = data if extra.pop("labels", False) else data.images
    with pytest.raises(ValueError, match=message):
        fit(G, D, og, od, data, cfg(steps=2, **extra))


# ----------------------------------------------------------------------------- AC-GAN's loss

def test_ac_loss_in_closed_form():
    assert ac_loss(torch.zeros(3, 4), torch.tensor([0, 1, 3])).item() == pytest.approx(
        math.log(4))  # uniform over 4 classes
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    want = (math.log(1 + math.exp(-2)) + math.log(1 + math.exp(-1))) / 2  # -log softmax
    assert ac_loss(logits, torch.tensor([0, 1])).item() == pytest.approx(want)


def test_ac_gan_adds_the_class_cross_entropy_to_both_players_losses():
    """With SGD at lr 1, a step subtracts the gradient: D's is that of d_loss + w (CE on the
    reals + CE on the fakes), G's that of g_loss + w CE on the fakes (Odena et al. 2017)."""
    w, y = 0.5, torch.tensor([0, 3, 1])
    G, D, _, _ = cond_pair(ACGANMLPDiscriminator, dropout=0.0)
    real, z = torch.rand(3, 1, 8, 8) * 2 - 1, torch.randn(3, 6)
    fake = G(z, y).detach()

    def by_hand(loss_of):  # D's weights after one SGD step on loss_of(source, classes)
        Dh = load_model(model_record(D))
        source, classes = Dh.forward_with_classes(torch.cat([real, fake]))
        grads = torch.autograd.grad(loss_of(source, classes), list(Dh.parameters()))
        return [p.detach() - g for p, g in zip(Dh.parameters(), grads)]

    want = by_hand(lambda s, c: d_loss(s[:3], s[3:]) + w * (
        F.cross_entropy(c[:3], y) + F.cross_entropy(c[3:], y)))
    game = replace(make_game(ac_weight=w), y=y)
    d_step(D, torch.optim.SGD(D.parameters(), lr=1.0), real, fake, game)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(params(D), want))

    Gh = load_model(model_record(G))
    source, classes = D.forward_with_classes(Gh(z, y))
    grads = torch.autograd.grad(g_loss_nonsaturating(source) + w * F.cross_entropy(classes, y),
                                list(Gh.parameters()))
    want = [p.detach() - g for p, g in zip(Gh.parameters(), grads)]
    g_step(D, torch.optim.SGD(G.parameters(), lr=1.0), G(z, y), game)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(params(G), want))


# ----------------------------------------------------------------------------- snapshots

def test_snapshot_wrappers_judge_a_conditional_pair_with_labels():
    """with_heldout_accuracy judges reals as D(x, y) with their own labels and fakes with the
    classes G(z) draws in turn; with_g_grad_norm's G loss is on D(G(z), y) too."""
    from ganlib import default_snapshot, with_g_grad_norm, with_heldout_accuracy
    from ganlib.losses import g_loss_nonsaturating

    G, D, _, _ = cond_pair(dropout=0.0)
    G.eval(), D.eval()
    held = labelled(n=12, seed=3)
    snap = with_g_grad_norm(with_heldout_accuracy(default_snapshot, held, n=12))
    z = torch.randn(8, 6)
    out = snap(G, D, z)
    x = held.images.float() / 127.5 - 1
    assert out["d_heldout"] == pytest.approx(torch.sigmoid(D(x, held.labels)).mean().item())
    y = balanced_labels(8, 4)
    fake_logits = D(G(z, y), y)
    assert out["d_fake"] == pytest.approx(torch.sigmoid(fake_logits).mean().item())
    grads = torch.autograd.grad(g_loss_nonsaturating(fake_logits), list(G.parameters()))
    assert out["g_grad"] == pytest.approx(torch.sqrt(sum(g.square().sum() for g in grads)).item(),
                                          rel=1e-5)
    with pytest.raises(ValueError, match="needs labelled real images"):
        with_heldout_accuracy(default_snapshot, held.images)(G, D, z)
