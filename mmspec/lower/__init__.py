"""Phase 4, lower: a checked Program -> torch (the networks, and a loss evaluating the objective IR).

The only phase that imports torch; each construct's torch half is here under its construct's name
(refine.py, iwae.py, stratified.py)."""
