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
