"""Helpers for the data tests: writers of small files in the real formats, and small classifiers."""
