"""Writing outputs safely: atomically, never over the input, with clear errors (no image
library needed, so ``info`` and ``truncate`` start fast)."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from .errors import OutputError


def one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__


def check_not_same_file(input_path: str | Path, output_path: str | Path) -> None:
    """Refuse to write ``output_path`` when it is ``input_path`` (same file, maybe via a link)."""
    try:
        same = os.path.samefile(input_path, output_path)
    except OSError:  # one of them does not exist (yet), so they cannot be the same file
        same = False
    if same:
        raise OutputError(f"output {output_path} is the input file; choose another output name")


def _check_target(path: Path) -> None:
    folder = path.parent
    if not folder.exists():
        raise OutputError(f"output folder {folder} does not exist")
    if not folder.is_dir():
        raise OutputError(f"output folder {folder} is not a folder")
    if path.is_dir():
        raise OutputError(f"output {path} is a directory; give a file name")


@contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success, move it over ``path`` atomically.

    The caller writes the whole output to the yielded path. If the block raises, the temporary
    file is removed and an existing ``path`` is left untouched. The data is fsynced before the
    rename so a crash cannot leave an empty file under the final name.
    """
    target = Path(path)
    _check_target(target)
    while True:
        temp = target.with_name(f".{target.name}.tmp-{secrets.token_hex(4)}")
        try:
            os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:
            continue
        except OSError as error:
            raise OutputError(f"cannot write {target}: {one_line(error)}") from None
    try:
        yield temp
        descriptor = os.open(temp, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_output`)."""
    try:
        with atomic_output(path) as temp:
            temp.write_bytes(data)
    except OSError as error:
        raise OutputError(f"cannot write {path}: {one_line(error)}") from None


def write_folder(target: str | Path, files: Mapping[str, bytes]) -> Path:
    """Write ``files`` (name -> bytes) as the folder ``target``, replacing a folder already
    there only once every file is written: a reader sees the old folder or the new one, never
    half of one, and a failure leaves no temporary folder."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return target
