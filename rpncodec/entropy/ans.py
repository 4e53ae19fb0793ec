"""Integer-table ANS coding of groups of symbols, each group with its own table, on
constriction. Shared by every density family (:mod:`.factorized`: a group per channel;
:mod:`.gaussian`: a group per scale index).

A table is a row of 16-bit frequencies: ``n - 1`` in-range entries, then one *escape* entry.
A symbol ``s`` of a group with offset ``o`` is coded as entry ``s + o``; a symbol outside the
table is coded as the escape entry followed by its value in 4-bit groups (uniform), so any
integer round-trips. Frequencies never come from floats at coding time: the tables are built
once (``update()``) and stored with the weights, so encoder and decoder agree on every
machine.
"""

from __future__ import annotations

import constriction
import numpy as np

from ..errors import BitstreamError

PRECISION = 16  # bits of the integer frequency tables
_NIBBLE = constriction.stream.model.Uniform(16)


def table_models(freqs: np.ndarray) -> list[tuple[object, int]]:
    """Per table row: (constriction model, length including the escape entry)."""
    models = []
    for row in freqs:
        n = int(np.flatnonzero(row)[-1]) + 1  # drop the padding after the escape
        models.append((constriction.stream.model.Categorical(
            row[:n].astype(np.float64), perfect=False), n))
    return models


def encode_groups(groups: list[np.ndarray], tables: list[int], models: list[tuple[object, int]],
                  offsets: np.ndarray) -> bytes:
    """ANS-code integer symbol groups; group ``g`` uses table ``tables[g]``.

    The table look-ups and escapes are done per group at once; escapes are decoded last, so
    they are pushed first (group by group, in order).
    """
    coder = constriction.stream.stack.AnsCoder()
    indices, escapes = [], []
    for sym, t in zip(groups, tables, strict=True):
        escape = models[t][1] - 1
        idx = sym.astype(np.int64) + int(offsets[t])
        out = (idx < 0) | (idx >= escape)
        if out.any():
            escapes.append(_escape_nibbles(sym[out]))
            idx = np.where(out, escape, idx)
        indices.append(idx.astype(np.int32))
    if escapes:
        coder.encode_reverse(np.concatenate(escapes), _NIBBLE)
    for idx, t in zip(reversed(indices), reversed(tables), strict=True):
        coder.encode_reverse(idx, models[t][0])
    return coder.get_compressed().astype("<u4").tobytes()


def decode_groups(data: bytes, counts: list[int], tables: list[int],
                  models: list[tuple[object, int]], offsets: np.ndarray,
                  escapes: bool = True) -> np.ndarray:
    """Inverse of :func:`encode_groups` for groups of ``counts`` symbols, returned as one flat
    int64 array (the groups one after the other); damaged data raises :class:`BitstreamError`.

    One ANS call per group; the offsets and escapes are then handled once for all groups.

    End-of-stream check: the encoder starts from the coder's initial (empty) state, so after
    the last symbol a decoder of the same string is back in that state with every word
    consumed. Any other end means the string is not what the encoder wrote (damaged, cut,
    padded, or decoded with other tables) and is refused. What it cannot see: a coder in its
    initial state decodes each table's first entry without reading anything, just as encoding
    those first from an empty coder writes nothing, so a string that runs dry before its last
    symbol decodes the rest as first entries and passes. The worst case, an empty string, is
    refused for a non-empty latent (an encoder writes one only if every symbol is its table's
    first entry, a far tail or a channel that is always zero, never all of them at once).
    """
    if len(data) % 4:
        raise BitstreamError("damaged layer payload (length is not a whole number of words)")
    if not data and sum(counts):
        raise BitstreamError(f"damaged layer payload (empty, for {sum(counts)} symbols)")
    try:
        coder = constriction.stream.stack.AnsCoder(np.frombuffer(data, dtype="<u4").copy())
        raw = np.concatenate([coder.decode(models[t][0], n) for n, t in
                              zip(counts, tables, strict=True)]).astype(np.int64)
        sym = raw - np.repeat(offsets[tables].astype(np.int64), counts)
        escape = np.repeat(np.array([models[t][1] - 1 for t in tables]), counts)
        escaped = np.flatnonzero(raw == escape)
        if len(escaped) and not escapes:
            raise BitstreamError("damaged layer payload (an escape where its tables hold "
                                 "every symbol)")
        for i in escaped:  # in order, as pushed
            count = int(coder.decode(_NIBBLE, 1)[0]) + 1
            nibbles = coder.decode(_NIBBLE, count)
            sym[i] = _unzigzag(sum(int(v) << (4 * k) for k, v in enumerate(nibbles)))
    except (ValueError, RuntimeError, OverflowError) as exc:
        raise BitstreamError(f"damaged layer payload ({exc})") from None
    if not coder.is_empty():
        raise BitstreamError("damaged layer payload (its entropy-coded string does not end "
                             "where its encoder began)")
    return sym


def quantize_pmf(probs: np.ndarray) -> np.ndarray:
    """Integer frequencies summing to 2**PRECISION for the masses ``probs`` (in-range entries
    then the escape), every entry >= 1; the rounding is settled on the most probable ones."""
    total = 1 << PRECISION
    freq = np.maximum(np.floor(probs / probs.sum() * total), 1).astype(np.int64)
    diff = total - int(freq.sum())
    while diff:
        j = int(np.argmax(freq))
        step = diff if diff > 0 else -min(-diff, int(freq[j]) - 1)
        freq[j] += step
        diff -= step
    return freq


def _escape_nibbles(values: np.ndarray) -> np.ndarray:
    """Per value: (number of 4-bit groups - 1), then the groups of its zigzag code, LSB first."""
    parts = []
    for v in values.tolist():
        u = 2 * v if v >= 0 else -2 * v - 1
        groups = []
        while True:
            groups.append(u & 15)
            u >>= 4
            if not u:
                break
        parts.append(len(groups) - 1)
        parts.extend(groups)
    return np.asarray(parts, dtype=np.int32)


def _unzigzag(u: int) -> int:
    return u >> 1 if u % 2 == 0 else -((u + 1) >> 1)
