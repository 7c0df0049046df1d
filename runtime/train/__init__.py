"""Training a compiled model: optimiser, loop, checkpoints, exact resume, divergence guard."""
