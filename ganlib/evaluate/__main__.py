"""`python -m ganlib.evaluate CHECKPOINT --data DATASET`: see `ganlib.evaluate.scores`."""

from .scores import main

main()
