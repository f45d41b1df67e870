import pytest
import torch
from torch import nn

from ganlib import models
from ganlib.engine import shapes
from ganlib.models import (DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator,
                           ToyDiscriminator, ToyGenerator, weights_init)


@pytest.mark.parametrize("size", [32, 64, 128])
@pytest.mark.parametrize("nc", [1, 3])
def test_dcgan_shapes(size, nc):
    G = DCGANGenerator(nz=16, ngf=8, nc=nc, image_size=size)
    D = DCGANDiscriminator(ndf=8, nc=nc, image_size=size)
    x = G(torch.randn(5, 16))
    assert x.shape == (5, nc, size, size)
    assert x.min() >= -1 and x.max() <= 1  # tanh output
    assert D(x).shape == (5,)


@pytest.mark.parametrize("size", [28, 48, 256, 0])
def test_dcgan_unsupported_size_names_supported(size):
    for build in (lambda: DCGANGenerator(image_size=size),
                  lambda: DCGANDiscriminator(image_size=size)):
        with pytest.raises(ValueError, match=r"\(32, 64, 128\)"):
            build()


def test_dcgan_blocks_follow_size():
    # one stride-2 transposed conv per doubling after the 4x4 projection
    for size, n in ((32, 3), (64, 4), (128, 5)):
        G = DCGANGenerator(nz=8, ngf=4, image_size=size)
        convs = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
        assert len(convs) == n + 1
        assert convs[0].out_channels == 4 * size // 8


def test_dcgan_discriminator_has_no_batchnorm_on_first_layer():
    D = DCGANDiscriminator(ndf=8)
    layers = list(D.net)
    assert isinstance(layers[0], nn.Conv2d) and isinstance(layers[1], nn.LeakyReLU)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in D.modules()) == 3


@pytest.mark.parametrize("act", ["relu", "leaky_relu"])
def test_mlp_shapes_and_options(act):
    G = MLPGenerator(nz=32, hidden=(64, 128), act=act, dropout=0.1)
    D = MLPDiscriminator(hidden=(128, 64), act=act, dropout=0.3)
    x = G(torch.randn(7, 32))
    assert x.shape == (7, 1, 28, 28)
    assert D(x).shape == (7,)
    assert sum(isinstance(m, nn.Dropout) for m in D.modules()) == 2
    assert sum(isinstance(m, nn.Linear) for m in G.modules()) == 3


def test_bad_activation_is_a_clear_error():
    with pytest.raises(ValueError, match="relu"):
        MLPGenerator(act="gelu")


@pytest.mark.parametrize("dim", [1, 2])
def test_toy_shapes(dim):
    G, D = ToyGenerator(nz=4, dim=dim), ToyDiscriminator(dim=dim)
    x = G(torch.randn(9, 4))
    assert x.shape == (9, dim) and D(x).shape == (9,)


def test_discriminators_return_logits_not_probabilities():
    for D, x in ((MLPDiscriminator(), torch.randn(4, 1, 28, 28)),
                 (DCGANDiscriminator(ndf=8, image_size=32), torch.randn(4, 3, 32, 32)),
                 (ToyDiscriminator(), torch.randn(4, 2))):
        assert not any(isinstance(m, nn.Sigmoid) for m in D.modules())
        with torch.no_grad():  # make the last layer output exactly 7: nothing may squash it
            D.net[-1].weight.zero_()
            if D.net[-1].bias is not None:
                D.net[-1].bias.fill_(7.0)
            else:  # DCGAN's last conv has no bias: feed it a constant input instead
                D.net[-1].weight.fill_(7.0 / D.net[-1].weight[0].numel())
                D.net = torch.nn.Sequential(torch.nn.Identity(), D.net[-1])
                x = torch.ones(4, *D.net[-1].weight.shape[1:])
        assert torch.allclose(D(x), torch.full((4,), 7.0))


def test_weights_init_statistics():
    torch.manual_seed(0)
    G = DCGANGenerator(nz=100, ngf=64, image_size=64)
    G.apply(weights_init)
    convs = torch.cat([m.weight.flatten() for m in G.modules()
                       if isinstance(m, nn.ConvTranspose2d)])
    bns = [m for m in G.modules() if isinstance(m, nn.BatchNorm2d)]
    bn_w = torch.cat([m.weight for m in bns]).detach()
    assert abs(convs.mean()) < 1e-3 and abs(convs.std() - 0.02) < 1e-3
    assert abs(bn_w.mean() - 1) < 5e-3 and abs(bn_w.std() - 0.02) < 3e-3
    assert all((m.bias == 0).all() for m in bns)


def test_weights_init_uses_isinstance_and_leaves_others_alone():
    class MyConv(nn.Conv2d):  # a subclass with another name is still a conv
        pass

    conv, lin = MyConv(3, 64, 4), nn.Linear(10, 10)
    before = lin.weight.clone()
    conv.apply(weights_init), lin.apply(weights_init)
    assert abs(conv.weight.std() - 0.02) < 3e-3 and (conv.bias == 0).all()
    assert torch.equal(lin.weight, before)


def test_build_round_trips_hparams():
    for m in (DCGANGenerator(nz=8, ngf=4, nc=1, image_size=32), MLPDiscriminator(hidden=(32,)),
              ToyGenerator(nz=3, dim=1)):
        clone = models.build(models.kind_of(m), **m.hparams)
        assert type(clone) is type(m) and clone.hparams == m.hparams
    with pytest.raises(ValueError, match="unknown model kind"):
        models.build("resnet")


def test_sample_is_seeded_in_range_and_keeps_mode():
    G = DCGANGenerator(nz=8, ngf=4, nc=3, image_size=32).train()
    a, b = G.sample(6, seed=3), G.sample(6, seed=3)
    assert a.shape == (6, 3, 32, 32) and torch.equal(a, b)
    assert a.min() >= -1 and a.max() <= 1
    assert G.training and not a.requires_grad


# ----------------------------------------------------------------------------- spectral norm

def spectral_discriminators():
    return [(DCGANDiscriminator(ndf=8, nc=1, image_size=32, spectral_norm=True),
             torch.randn(4, 1, 32, 32)),
            (MLPDiscriminator(hidden=(64, 32), spectral_norm=True), torch.randn(4, 1, 28, 28)),
            (ToyDiscriminator(hidden=32, spectral_norm=True), torch.randn(4, 2))]


def layers(D):
    return [m for m in D.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


def test_spectral_norm_makes_every_layer_1_lipschitz_after_a_few_power_iterations():
    torch.manual_seed(0)
    for D, x in spectral_discriminators():
        D.apply(weights_init)  # re-initialised raw weights: the stored u, v are stale now
        for _ in range(10):  # one power iteration per forward pass in training mode
            D(x)
        with torch.no_grad():
            sigmas = [torch.linalg.matrix_norm(m.weight.flatten(1), ord=2).item()
                      for m in layers(D)]
        assert len(sigmas) >= 3 and all(abs(s - 1) < 0.05 for s in sigmas), sigmas
        assert D(x).shape == (4,)


def test_spectral_norm_dcgan_has_no_batchnorm_and_records_the_option_only_when_on():
    D = DCGANDiscriminator(ndf=8, image_size=32, spectral_norm=True)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in D.modules())
    assert D.hparams["spectral_norm"] is True
    for plain in (DCGANDiscriminator(ndf=8, image_size=32), MLPDiscriminator(hidden=(32,)),
                  ToyDiscriminator()):  # unchanged hparams: older checkpoints still resume
        assert "spectral_norm" not in plain.hparams
        assert not any("parametrizations" in k for k in plain.state_dict())


def test_spectral_norm_survives_a_checkpoint_round_trip(tmp_path):
    from ganlib.engine.checkpoint import load_checkpoint, load_model, model_record, save_checkpoint

    torch.manual_seed(0)
    for D, x in spectral_discriminators():
        for _ in range(3):
            D(x)
        save_checkpoint({"d": model_record(D)}, tmp_path / "d.pt")
        D2 = load_model(load_checkpoint(tmp_path / "d.pt")["d"])
        assert D2.hparams == D.hparams and D2.state_dict().keys() == D.state_dict().keys()
        D.eval(), D2.eval()  # eval: no power iteration, the saved u and v are used as they are
        assert torch.equal(D(x), D2(x))


# ----------------------------------------------------------------- models against the data

def dcgan(size, nc=3):
    return (DCGANGenerator(nz=8, ngf=4, nc=nc, image_size=size),
            DCGANDiscriminator(ndf=4, nc=nc, image_size=size))


def state(*nets):
    """Every parameter and buffer, copied, and every module's train flag."""
    return ([t.detach().clone() for m in nets for t in (*m.parameters(), *m.buffers())],
            [m.training for net in nets for m in net.modules()])


def test_dcgan_models_for_32_on_64x64_data_say_so_where_d_gave_25_logits_per_image():
    G32, D32 = dcgan(32)
    G64, _ = dcgan(64)
    real = torch.randn(4, 3, 64, 64)
    assert D32(real).shape == (100,)  # the silent failure: 25 logits per real image
    with pytest.raises(ValueError) as e:
        shapes.check_shapes(G32, D32, real)
    assert str(e.value) == ("the data is 3×64×64, G makes 3×32×32: build the models with "
                            "image_size=64 or resize the data to 32×32")
    with pytest.raises(ValueError) as e:  # G is right: D is checked on the real shape
        shapes.check_shapes(G64, D32, real)
    assert str(e.value) == ("D gives 25 logits per item of the data (3×64×64), not one "
                            "(output shape (50,) for 2 items): it was built for 3×32×32 "
                            "(image_size=32, nc=3): build the models with image_size=64 or "
                            "resize the data to 32×32")


def test_dcgan_models_for_64_on_32x32_data_name_both_sizes_not_a_kernel():
    G64, D64 = dcgan(64)
    G32, _ = dcgan(32)
    real = torch.randn(4, 3, 32, 32)
    with pytest.raises(ValueError, match=r"^the data is 3×32×32, G makes 3×64×64: build the "
                                         r"models with image_size=32 or resize the data to "
                                         r"64×64$"):
        shapes.check_shapes(G64, D64, real)
    with pytest.raises(ValueError) as e:
        shapes.check_shapes(G32, D64, real)
    assert str(e.value) == ("D cannot take the data (3×32×32): it was built for 3×64×64 "
                            "(image_size=64, nc=3): build the models with image_size=32 or "
                            "resize the data to 64×64")
    assert isinstance(e.value.__cause__, RuntimeError)  # the convolution's own words, chained


def test_a_wrong_channel_count_or_an_unsupported_size():
    G, D = dcgan(32)
    G1, _ = dcgan(32, nc=1)
    with pytest.raises(ValueError, match=r"^the data is 1×32×32, G makes 3×32×32: build the "
                                         r"models with nc=1$"):
        shapes.check_shapes(G, D, torch.randn(4, 1, 32, 32))
    with pytest.raises(ValueError, match=r"^D cannot take the data \(1×32×32\): it was built "
                                         r"for 3×32×32 \(image_size=32, nc=3\): build the "
                                         r"models with nc=1$"):
        shapes.check_shapes(G1, D, torch.randn(4, 1, 32, 32))
    with pytest.raises(ValueError, match=r"^the data is 3×48×48, G makes 3×32×32: resize the "
                                         r"data to 32×32 \(DCGAN models are built for square "
                                         r"images of side 32, 64, 128\)$"):
        shapes.check_shapes(G, D, torch.randn(4, 3, 48, 48))


def test_the_mlp_pair_on_another_image_size_says_img_shape():
    G, D = MLPGenerator(nz=8, hidden=(16,)), MLPDiscriminator(hidden=(16,))
    real = torch.randn(4, 1, 32, 32)
    with pytest.raises(ValueError, match=r"^the data is 1×32×32, G makes 1×28×28: build the "
                                         r"models with img_shape=\(1, 32, 32\) or resize the "
                                         r"data to 28×28$"):
        shapes.check_shapes(G, D, real)
    G32 = MLPGenerator(nz=8, hidden=(16,), img_shape=(1, 32, 32))
    with pytest.raises(ValueError, match=r"^D cannot take the data \(1×32×32\): it was built "
                                         r"for 1×28×28 \(img_shape=\(1, 28, 28\)\): build the "
                                         r"models with img_shape=\(1, 32, 32\)") as e:
        shapes.check_shapes(G32, D, real)
    assert "mat1 and mat2" in str(e.value.__cause__)


def test_toy_models_of_another_dimension_say_dim():
    with pytest.raises(ValueError, match=r"^the data is points in 3 dimensions, G makes points "
                                         r"in 2 dimensions: build the models with dim=3$"):
        shapes.check_shapes(ToyGenerator(nz=2, dim=2), ToyDiscriminator(dim=2), torch.randn(5, 3))
    with pytest.raises(ValueError, match=r"^D cannot take the data \(points in 3 dimensions\): "
                                         r"it was built for points in 2 dimensions \(dim=2\): "
                                         r"build the models with dim=3$"):
        shapes.check_shapes(ToyGenerator(nz=2, dim=3), ToyDiscriminator(dim=2), torch.randn(5, 3))
    with pytest.raises(ValueError, match="check_shapes needs one batch of data"):
        shapes.check_shapes(ToyGenerator(), ToyDiscriminator(), torch.randn(0, 2))


@pytest.mark.parametrize("pair,real", [
    (lambda: dcgan(32), torch.randn(3, 3, 32, 32)),
    (lambda: dcgan(64, nc=1), torch.randn(1, 1, 64, 64)),  # a batch of one
    (lambda: (DCGANGenerator(nz=8, ngf=4, image_size=32),
              DCGANDiscriminator(ndf=4, image_size=32, spectral_norm=True)),
     torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)),  # uint8 data, spectral norm
    (lambda: (MLPGenerator(nz=8, hidden=(16,)), MLPDiscriminator(hidden=(16,))),
     torch.randn(4, 1, 28, 28)),
    (lambda: (ToyGenerator(nz=2, dim=1), ToyDiscriminator(dim=1)), torch.randn(8, 1)),
])
def test_matching_models_pass_and_are_left_exactly_as_they_were(pair, real):
    G, D = pair()
    G.train(), D.eval()
    D.net[0].train()  # a module in another mode than its parent keeps it
    before, rng = state(G, D), torch.get_rng_state()
    assert shapes.check_shapes(G, D, real) is None
    after = state(G, D)
    assert after[1] == before[1]
    assert all(torch.equal(a, b) for a, b in zip(after[0], before[0]))
    assert torch.equal(torch.get_rng_state(), rng)  # the run's random numbers are its own


def test_wrapped_models_are_checked_unwrapped():
    G, D = dcgan(32)
    with pytest.raises(ValueError, match="^the data is 3×64×64, G makes 3×32×32"):
        shapes.check_shapes(torch.compile(G), torch.compile(D), torch.randn(2, 3, 64, 64))
    assert models.unwrap(torch.compile(D)) is D


# ----------------------------------------------------------------------------- D options

def test_minibatch_std_appends_the_groups_mean_feature_std():
    x = torch.tensor([[0.0, 0.0], [2.0, 4.0], [1.0, 1.0], [1.0, 1.0]])  # 4 images, 2 features
    out = models.MinibatchStd(group_size=2)(x)
    # group 1: stds (1, 2) -> 1.5; group 2: identical images -> sqrt(1e-8)
    assert out.shape == (4, 3) and torch.equal(out[:, :2], x)
    assert out[:2, 2].tolist() == pytest.approx([1.5, 1.5], abs=1e-6)
    assert out[2:, 2].tolist() == pytest.approx([1e-4, 1e-4], abs=1e-6)
    images = torch.randn(6, 3, 4, 4)  # 6 is not a multiple of 4: groups of 3
    assert models.MinibatchStd()(images).shape == (6, 4, 4, 4)
    assert models.MinibatchStd()(images[:1])[0, 3].abs().max() < 1e-3  # a batch of one


@pytest.mark.parametrize("make", [
    lambda **kw: DCGANDiscriminator(ndf=4, nc=1, image_size=32, batchnorm=False, **kw),
    lambda **kw: MLPDiscriminator(img_shape=(1, 8, 8), hidden=(8,), dropout=0.0, **kw),
    lambda **kw: ToyDiscriminator(dim=2, hidden=8, **kw)])
def test_minibatch_std_makes_one_images_logit_depend_on_its_group(make):
    torch.manual_seed(0)
    D = make(minibatch_std=True).eval()
    plain = make().eval()
    shape = {"dcgan_d": (4, 1, 32, 32), "mlp_d": (4, 1, 8, 8), "toy_d": (4, 2)}[
        models.kind_of(D)]
    x = torch.randn(shape)
    y = x.clone()
    y[3] += 1.0  # another image of the group changes
    assert D(x).shape == (4,) and D(x)[0] != D(y)[0]
    assert plain(x)[0] == plain(y)[0]
    assert models.mixes_batch(D) and not models.mixes_batch(plain)
    assert D.hparams["minibatch_std"] is True and "minibatch_std" not in plain.hparams
    rebuilt = models.build(models.kind_of(D), **D.hparams)
    rebuilt.load_state_dict(D.state_dict())


def test_the_dcgan_d_without_batchnorm_has_none_and_says_so_in_its_hparams():
    D = DCGANDiscriminator(ndf=4, nc=1, image_size=32, batchnorm=False)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in D.modules())
    assert D.hparams == {"ndf": 4, "nc": 1, "image_size": 32, "batchnorm": False}
    assert DCGANDiscriminator(ndf=4, nc=1, image_size=32).hparams == {
        "ndf": 4, "nc": 1, "image_size": 32}  # older checkpoints still compare equal


def test_the_truncation_trick_draws_z_inside_the_bound_again_seeded():
    from ganlib.models import ConditionalMLPGenerator, Generator

    class Echo(Generator):  # G(z) = z: what sample draws, shown as it is
        nz = 6

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, z):
            return z + self.w

    G = Echo()
    z = G.sample(2000, seed=3, truncation=0.5)
    assert z.abs().max() <= 0.5 and torch.equal(z, G.sample(2000, seed=3, truncation=0.5))
    plain = G.sample(2000, seed=3)
    assert plain.abs().max() > 2 and torch.equal(plain, torch.randn(
        2000, 6, generator=torch.Generator().manual_seed(3)))  # None: N(0, I) as before
    with pytest.raises(ValueError, match="truncation must be > 0"):
        G.sample(2, truncation=0.0)
    cond = ConditionalMLPGenerator(nz=4, n_classes=3, hidden=(8,), img_shape=(1, 4, 4))
    assert cond.sample(6, seed=0, truncation=1.0).shape == (6, 1, 4, 4)
