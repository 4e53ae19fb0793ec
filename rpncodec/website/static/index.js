// @ts-check
/** index.html: the site's files (files.json, written by `rpncodec web`), linked to the viewer. */

const body = /** @type {HTMLElement} */ (document.querySelector("#files tbody"));

async function main() {
  const response = await fetch("files.json", { cache: "no-cache" });
  if (!response.ok) throw new Error(`files.json: HTTP ${response.status}`);
  const listing = await response.json();
  for (const f of listing.files) {
    const tr = document.createElement("tr");
    const link = document.createElement("a");
    link.href = `view.html?src=${encodeURIComponent(f.file)}`;
    link.textContent = f.file;
    const first = document.createElement("td");
    first.appendChild(link);
    tr.appendChild(first);
    const layers = f.available < f.layers ? `${f.available} of ${f.layers}` : `${f.layers}`;
    for (const text of [f.model, f.mode, `${f.width}x${f.height}`, layers,
      f.bytes.toLocaleString("en")]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
}

main().catch((error) => {
  const p = document.createElement("p");
  p.textContent = `error: ${error.message}`;
  document.body.appendChild(p);
});
