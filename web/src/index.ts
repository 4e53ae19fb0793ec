/**
 * rpncodec's decoder in TypeScript: the `.rpn` container, ANS decoding bit-exact with the
 * Python encoder, the table-index rule, the factorized latents, exact colours, colour
 * corrections and residual layers. No global state, no I/O: every function works on the
 * bytes and tables it is given, in a page or a worker.
 */

export * from "./errors";
export * from "./crc32";
export * from "./container";
export * from "./exact_colours";
export * from "./colour_corrections";
export * from "./residual_layers";
export * from "./ans";
export * from "./coding";
export * from "./latent";
export * from "./graph";
export * from "./kernels";
export * from "./model";
export * from "./decode";
