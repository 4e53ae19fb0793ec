"""Register the ``.rpn`` Pillow plugin (``rpncodec.pillow_plugin``) without importing Pillow.

``import rpncodec`` must make ``PIL.Image.open("a.rpn")`` work, in whichever order the two
are imported, yet must not import Pillow itself: that would add about 15 ms to every command
line start, including ``rpncodec info`` and ``truncate``, which need no image library. So
``install`` registers the plugin at once when Pillow's ``PIL.Image`` is already imported,
and otherwise puts a finder on ``sys.meta_path`` that waits for ``PIL.Image`` to be imported
and registers the plugin right after that module has run (a post-import hook). The finder
handles only that one import, once, and then removes itself. It uses no ``importlib.abc`` or
``importlib.util`` (finders and loaders are duck-typed): importing those costs more than
Pillow itself.
"""

from __future__ import annotations

import sys
import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType

TARGET = "PIL.Image"


def register() -> None:
    """Register the plugin with Pillow now (importing Pillow). Idempotent."""
    from .pillow_plugin import register as register_plugin

    register_plugin()


def _register_quietly() -> None:
    """``register`` from inside someone else's ``import PIL.Image``: a failure is a
    warning, never a broken import of Pillow."""
    try:
        register()
    except Exception as exc:  # pragma: no cover - defensive: Pillow must still import
        warnings.warn(f"rpncodec: the .rpn Pillow plugin is not registered ({exc})",
                      stacklevel=2)


class _RegisteringLoader:
    """Runs ``PIL.Image`` with its own loader, then registers the plugin."""

    def __init__(self, inner) -> None:
        self._inner = inner

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self._inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._inner.exec_module(module)
        _register_quietly()

    def __getattr__(self, name: str):  # get_source, get_filename, ... of the real loader
        return getattr(self._inner, name)


class _PillowFinder:
    """Finds ``PIL.Image`` with the other finders, as the import system would, and wraps its
    loader."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if fullname != TARGET:
            return None
        uninstall()  # one use
        for finder in list(sys.meta_path):
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find else None
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _RegisteringLoader(spec.loader)
                return spec
        return None


def install() -> None:
    """Register the plugin now if Pillow is imported, else when it is."""
    if TARGET in sys.modules:
        _register_quietly()
    elif not any(isinstance(f, _PillowFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _PillowFinder())


def uninstall() -> None:
    """Remove the waiting finder, if any (the plugin stays registered if it was)."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _PillowFinder)]
