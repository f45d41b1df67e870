"""The chapters' kit, imported by name from the notebooks (`from ganlib.book import compare`):
the typed check of a chapter's parameters (params.py), chapter 2's presets, recipes compared
fairly with one rule (compare.py) on chapter 5's testbeds (testbeds.py), the Dirac-GAN in
closed form (dirac.py), real images degraded in known ways (degrade.py), convolution
arithmetic (convmath.py), and `show_source` (show.py).
"""
