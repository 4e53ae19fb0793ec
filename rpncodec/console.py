"""The ``rpncodec`` console script: process-wide settings, then the command line."""

from __future__ import annotations

import os


def entry() -> None:
    """Run the command line. numpy's BLAS is kept to one thread unless the environment says
    otherwise: the runtime's float64 convolutions are small matrix products (a latent is
    about 48x32 for a 768x512 image), where BLAS threads cost more than they save (measured
    3x slower with 2 threads on this project's 2-core machine). It must be set before numpy
    is imported, hence this module."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from .cli import entry as run

    run()
