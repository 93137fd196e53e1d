// Searches a built book's Pagefind index as a browser does (pagefind.js, its wasm and index chunks
// fetched over HTTP from 127.0.0.1) and prints the pages found, best first, one URL path a line.
// usage: node scripts/book-search.mjs BOOK_DIR QUERY   (scripts/test-all.sh checks both books with it)
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

process.stdout.on("error", () => process.exit(0)); // a reader that stops early (head) is fine

const [given, query] = process.argv.slice(2);
const dir = path.resolve(given);
const server = http.createServer((req, res) => {
  const file = path.join(dir, decodeURIComponent(new URL(req.url, "http://x").pathname));
  if (!file.startsWith(dir) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200).end(fs.readFileSync(file));
});
await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
const base = `http://127.0.0.1:${server.address().port}/`;
try {
  const pagefind = await import(pathToFileURL(path.join(dir, "pagefind", "pagefind.js")));
  await pagefind.options({ basePath: `${base}pagefind/` });
  await pagefind.init();
  const found = await pagefind.search(query);
  for (const result of found.results.slice(0, 10)) {
    const data = await result.data();
    console.log(new URL(data.url).pathname);
  }
} finally {
  server.close();
}
