"""What an image file's pixels mean, as 8 bits per channel, for every mode PIL opens.

PIL's `convert("RGB")` and `convert("L")` are right for 8-bit images but clip wider ones: a
16-bit grey PNG (mode "I;16") ramp over 0..65535 keeps only values up to 255, so it trains
as a near-white square, without a warning. `to_8bit` decides for every mode:

* 8 bits per channel ("1", "L", "P", "RGB", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"): PIL's
  own conversion. CMYK is converted without a colour profile, R = (255 - C)(255 - K) / 255,
  which inverts PIL's RGB -> CMYK exactly; JPEG's Adobe-inverted CMYK is undone by PIL on
  reading.
* 16-bit grey ("I;16", "I;16L", "I;16B", "I;16N"): the top byte, value >> 8, as PIL itself
  reads 16-bit colour and grey-with-alpha PNGs (to "RGB" and "RGBA"), so that every depth
  gives the same 8-bit value, and an 8-bit image saved as 16 bits (v * 257) reads back as v.
* 32-bit integers ("I"): PIL opens 16-bit PGM/PPM files so, scaled to 0..65535 whatever
  their maxval, and older Pillows 16-bit grey PNGs: from those two formats, value >> 8.
  From any other file (a 32-bit TIFF...), or with values outside 0..65535, the range is
  unknown: refused.
* 32-bit floats ("F"): refused. A float image declares no range (0..1, 0..255, HDR), and
  guessing one from the pixels would give each image its own scale.
* Transparency ("LA", "PA", "RGBA", a palette or grey/RGB image with a transparent colour):
  composited onto white (`BACKGROUND`), the way a page shows it. Dropping alpha instead
  would show whatever colour the file keeps under its transparent pixels, often black,
  sometimes garbage.

Refused images raise `UnsupportedImage` (a ValueError) saying why; readers skip them with
their names, like files that do not decode.
"""

import numpy as np

BACKGROUND = (255, 255, 255)  # what transparent pixels are composited onto
EIGHT_BIT = ("1", "L", "P", "RGB", "RGBX", "CMYK", "YCbCr", "LAB", "HSV")
WITH_ALPHA = ("LA", "La", "PA", "RGBA", "RGBa")
SIXTEEN_BIT_I = ("PNG", "PPM")  # formats whose mode "I" holds 16-bit values


class UnsupportedImage(ValueError):
    """An image whose pixel values have no known 8-bit meaning (see the module docstring)."""


def to_8bit(im, mode="RGB"):
    """`im`, an opened PIL image of any mode, as an 8-bit PIL image of `mode` ("RGB" or
    "L"), by the rules of the module docstring. Raises UnsupportedImage for 32-bit images
    of unknown range and for modes PIL has no conversion for."""
    from PIL import Image

    if im.mode.startswith("I;16") or im.mode == "I":
        if im.mode == "I" and im.format not in SIXTEEN_BIT_I:
            raise UnsupportedImage(f"its pixels are 32-bit integers (PIL mode 'I', from a "
                                   f"{im.format or 'an unknown'} file) of unknown range: save "
                                   f"it with 8 or 16 bits per channel")
        values = np.asarray(im).astype(np.int64)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise UnsupportedImage(f"its pixels run from {values.min()} to {values.max()}, "
                                   f"outside 16 bits: save it with 8 or 16 bits per channel")
        im = Image.fromarray((values >> 8).astype(np.uint8))  # mode "L"
    elif im.mode == "F":
        raise UnsupportedImage("its pixels are 32-bit floats (PIL mode 'F'), which declare "
                               "no range: save it with 8 or 16 bits per channel")
    elif im.mode not in EIGHT_BIT + WITH_ALPHA:
        raise UnsupportedImage(f"its PIL mode {im.mode!r} is not one ganlib decodes")
    if im.mode in WITH_ALPHA or "transparency" in im.info:
        im = im.convert("RGBA")
        im = Image.alpha_composite(Image.new("RGBA", im.size, BACKGROUND + (255,)), im)
    return im.convert(mode)
