"""Experiments on Ray: `mmspec sweep EXPERIMENT.mmx` runs the trials (one normal run directory
each) and `mmspec report EXPERIMENT_DIR` lays them out as the paper's tables and plots."""
