"""Training: the trainer, losses, data, progressive growth, warm start and export.

Nothing in the codec imports this package; only ``rpncodec train`` and the tools do.
"""
