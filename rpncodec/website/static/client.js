// @ts-check
/**
 * The pages' side of the decoding worker (worker.js): start it, pick the thread count, run a
 * decode job and route its messages to callbacks.
 */

/**
 * Threads for onnxruntime-web: several only where the page is cross-origin isolated (the
 * host sends COOP/COEP, so SharedArrayBuffer exists), else one. `?threads=N` asks for N.
 * @param {URLSearchParams} params
 */
export function threadsWanted(params) {
  const isolated = globalThis.crossOriginIsolated === true;
  const asked = Number.parseInt(params.get("threads") ?? "", 10);
  if (!isolated) return 1;
  if (Number.isFinite(asked) && asked >= 1) return Math.min(asked, 16);
  return Math.max(1, Math.min(navigator.hardwareConcurrency || 1, 4));
}

/**
 * `?layers=K`: a whole number from 1, or null (every layer that decodes).
 * @param {URLSearchParams} params
 * @returns {number | null}
 */
export function layersWanted(params) {
  const text = params.get("layers");
  if (text === null || text === "" || text === "all") return null;
  if (!/^[0-9]{1,3}$/.test(text) || Number(text) < 1) {
    throw new Error(`layers must be a whole number from 1, not ${JSON.stringify(text.slice(0, 20))}`);
  }
  return Number(text);
}

/**
 * The file named by `?src=`, resolved against the page (a name in the site, or any URL the
 * host allows the page to read).
 * @param {URLSearchParams} params
 */
export function sourceUrl(params) {
  const src = params.get("src");
  if (!src) throw new Error("no file given: add ?src=NAME.rpn to the address");
  return new URL(src, document.baseURI).href;
}

/** The decoding worker (a module worker next to this script). */
export function startWorker() {
  return new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
}

/**
 * Run one decode job; resolves with the "done" message, rejects with an Error whose message
 * is the worker's (the command line's wording for a bad file).
 * @param {Worker} worker
 * @param {{src: string, layers: number | null, threads: number}} job
 * @param {{header?: (m: any) => void, fetched?: (m: any) => void, layer?: (m: any) => void}} on
 * @returns {Promise<any>}
 */
export function decode(worker, job, on) {
  return new Promise((resolve, reject) => {
    worker.onmessage = (event) => {
      const m = event.data;
      if (m.type === "header") on.header?.(m);
      else if (m.type === "fetched") on.fetched?.(m);
      else if (m.type === "layer") on.layer?.(m);
      else if (m.type === "done") resolve(m);
      else if (m.type === "error") reject(Object.assign(new Error(m.message), { detail: m }));
    };
    worker.onerror = (event) => {
      event.preventDefault();
      reject(new Error(`the decoder could not start (${event.message || "worker error"})`));
    };
    worker.postMessage({ type: "decode", ...job });
  });
}

/**
 * Paint a decoded layer on `canvas` at its own resolution; CSS scales it to the full image
 * size, so a spatial file's 1/4 and 1/2 layers fill the same frame as the full one.
 * @param {HTMLCanvasElement} canvas
 * @param {{width: number, height: number, rgba: Uint8ClampedArray}} image
 * @param {number} fullWidth
 * @param {number} fullHeight
 */
export function paint(canvas, image, fullWidth, fullHeight) {
  canvas.width = image.width;
  canvas.height = image.height;
  const context = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
  context.putImageData(new ImageData(new Uint8ClampedArray(image.rgba.buffer, 0,
    image.width * image.height * 4), image.width, image.height), 0, 0);
  canvas.style.aspectRatio = `${fullWidth} / ${fullHeight}`;
  canvas.style.width = `${fullWidth}px`;
}
