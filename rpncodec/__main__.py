"""``python -m rpncodec`` (also what ``torchrun -m rpncodec train`` runs)."""

from .cli import entry

entry()
