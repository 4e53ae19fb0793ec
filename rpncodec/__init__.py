"""rpncodec: a scalable learned image codec (reciprocal pyramid network, arXiv 2306.08941).

The Python interface (``rpncodec.api``)::

    import rpncodec
    data = rpncodec.encode("photo.png")           # bytes of one .rpn file, every layer
    image = rpncodec.decode(data, layers=2)       # a PIL image from the first 2 layers
    rpncodec.info(data).layers                    # each layer's bytes and decoded size
    remote = rpncodec.open("https://host/a.rpn")  # header now, layers when decoded

Importing rpncodec also registers the ``.rpn`` format with Pillow
(``rpncodec.pillow_plugin``), so ``PIL.Image.open("a.rpn")`` works; Pillow itself is
imported only when something imports it.
"""

__version__ = "0.1.0"  # before the imports: submodules import it

from . import pillow_hook
from .api import LayerInfo, RpnInfo, decode, encode, info, open

__all__ = ["LayerInfo", "RpnInfo", "__version__", "decode", "encode", "info", "open"]

pillow_hook.install()
