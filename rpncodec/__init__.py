"""rpncodec: a scalable learned image codec (reciprocal pyramid network, arXiv 2306.08941)."""

__version__ = "0.1.0"
