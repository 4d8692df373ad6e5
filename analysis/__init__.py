"""Tidy frames, comparisons, figures and the PDF report."""
