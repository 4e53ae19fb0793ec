"""``python -m rpncodec`` (also what ``torchrun -m rpncodec train`` runs)."""

from .console import entry

entry()
