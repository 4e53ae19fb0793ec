/** Reading the container's big-endian integers. */

/** The big-endian unsigned 32-bit integer at `pos` of `data`. */
export function readU32(data: Uint8Array, pos: number): number {
  return ((data[pos] << 24) | (data[pos + 1] << 16) | (data[pos + 2] << 8) | data[pos + 3]) >>> 0;
}
