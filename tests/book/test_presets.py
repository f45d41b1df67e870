import pytest

from ganlib.book.presets import BOOK, MNIST_PRESETS, apply_preset


def test_a_preset_gives_its_settings_and_an_explicit_parameter_wins():
    settings, overrides = apply_preset("classic-64", dict(BOOK))
    assert settings == MNIST_PRESETS["classic-64"] and overrides == []
    assert settings["nz"] == 64 and settings["g_act"] == "relu" and settings["beta1"] == 0.9
    settings, overrides = apply_preset("classic-128", dict(BOOK, lr_g=1e-3, seed=3))
    assert settings["lr_g"] == 1e-3 and overrides == ["lr_g"]
    assert settings["batch_size"] == 64 and settings["g_hidden"] == (128, 256, 512)
    assert apply_preset("book", dict(BOOK, ema=0.0)) == (dict(BOOK, ema=0.0), ["ema"])


def test_an_unknown_preset_is_named():
    with pytest.raises(ValueError, match=r"preset must be one of .*'classic-64'.*got 'classic'"):
        apply_preset("classic", dict(BOOK))


def test_train_preset_trains_chapter_2s_pair_and_resumes_its_run(tmp_path):
    import torch

    from ganlib.book.presets import train_preset
    from ganlib.data import ImageData

    images = torch.randint(0, 256, (40, 1, 8, 8), dtype=torch.uint8)
    train = ImageData(images, torch.zeros(40, dtype=torch.long), "40 random 8x8 images")
    settings = dict(BOOK, g_hidden=(16,), d_hidden=(16,), batch_size=8)
    path = tmp_path / "run.pt"
    run, G = train_preset(settings, train, 3, seed=0, checkpoint_path=path)
    assert run.step == 3 and G is run.G_ema  # the book's recipe samples the EMA of G
    assert G.sample(2, seed=1).shape == (2, 1, 8, 8)
    again, G2 = train_preset(settings, train, 3, seed=0, checkpoint_path=path)
    assert again.resumed_from == 3  # the same run found at the path is not trained again
    assert torch.equal(G.sample(2, seed=1), G2.sample(2, seed=1))
