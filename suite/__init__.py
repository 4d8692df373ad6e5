"""The catalogue: model sizes, strategies, sweep files, matrix expansion and the CLI."""
