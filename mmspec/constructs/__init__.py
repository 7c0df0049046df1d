"""The language's constructs beyond the core (refine/gradient_origin, iwae, stages, stratified
sampling): each one's options, checks, explain text and cost, in one file per construct. Their torch
half lives in mmspec/lower/ under the same name."""
