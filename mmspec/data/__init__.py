"""A spec's data: built-in datasets' shapes, and a researcher's own files declared in the spec.

decl.py (the `data NAME { ... }` nodes), formats.py (headers and reading, per file format),
plan.py (a block against the declared modalities and the headers; splits), check.py (the data
stage of `mmspec check`), builtin.py (the built-in datasets' modalities). Pure: no torch.
"""
