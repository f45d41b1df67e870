"""`python -m ganlib.bench [--quality | --precision | --profile | --gpu]`: see
`ganlib.bench.speed`."""

from .speed import main

main()
