"""Measuring generators: FID, KID, precision/recall and density/coverage (measures.py) on
TF-FID Inception features (inception.py), generators scored and `python -m ganlib.evaluate`
(scores.py); the book's 99% MNIST classifier (classifier.py) and what it measures
(metrics.py: Fréchet distance on its features, class and mode coverage, nearest neighbours);
per-class measures of a conditional generator (classes.py).

`from ganlib import evaluate` keeps the scoring API in one place: `evaluate.score_generator`,
`evaluate.fid`, `evaluate.kid_score_fn`, ...
"""

from .inception import InceptionWeightsMissing, inception_features, load_inception, to_uint8
from .measures import (ball_hits, by_sample_size, density_coverage, fid, fid_infinity, halves,
                       kid, kid_subset_size, kth_radius, measures, precision_recall, real_floor)
from .scores import (DATASETS, cached_features, feature_key, format_scores, kid_score_fn,
                     load_real, main, score_generator)
