"""Entropy models and their integer coders (one module per density family)."""
