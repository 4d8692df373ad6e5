"""Benchmarks shipped to users: the harness, report-scale and search-cost benchmarks."""
