"""What a checked spec means, as plain data: the model graph, the objective IR, subsets of modalities.

Pure Python (no torch): check builds these, explain prints them, lower evaluates them.
"""
