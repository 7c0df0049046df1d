"""`mmspec bench`: training throughput of a spec, optionally side by side with MultiVae.

synthetic.py  random data with the spec's modality shapes, resident on the device
steps.py      one training step of mmspec (the runtime's own) and of MultiVae
multivae_side.py  the same model built in MultiVae from the spec's own networks
timing.py     warm-up, alternating timed rounds, medians, peak memory
run.py        the command as a function (a JSON-ready dict); cli.py the click command
              (`--against multivae`, or `--against plain`: mmspec's own eager one-by-one path)
scaling.py    MoPoE time per step against the number of modalities (docs/benchmarks.md):
              python -m runtime.bench.scaling --modalities 2-8 [--against multivae]
"""
