"""Reports of evaluated runs: results.json, report.md, PNG plots, and tables across runs."""
