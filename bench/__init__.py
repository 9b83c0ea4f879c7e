"""Benchmark scripts that score maildesk against shared corpora and other libraries."""
