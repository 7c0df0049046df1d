"""The language's constructs beyond the core (refine/gradient_origin, iwae, stages, stratified
sampling, schedules): each one's options, checks and node/leaf building, one file per construct,
pure Python. Their explain text that needs more than the model is in mmspec/explain/ and their torch
half in mmspec/lower/, under the same names (docs/architecture.md)."""
