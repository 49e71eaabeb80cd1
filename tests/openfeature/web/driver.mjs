// The OpenFeature web SDK with the OFREP web provider, in a page loaded by headless Chromium
// (SWITCHBOARD_TEST_CHROMIUM), against Switchboard (../protocol.md). The page and the SDK's ES
// modules are served from this directory by a static server on STATIC_PORT: another origin than
// Switchboard's, so every request goes through CORS with a client-side key.
import { createReadStream, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const [baseUrl, casesPath, resultsPath] = process.argv.slice(2);
const cases = JSON.parse(readFileSync(casesPath, 'utf8'));
const root = fileURLToPath(new URL('.', import.meta.url));
const types = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript' };

const server = createServer((req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  const file = normalize(join(root, path === '/' ? 'page.html' : path));
  const allowed = file === join(root, 'page.html') || file.startsWith(join(root, 'node_modules'));
  if (!allowed || !existsSync(file) || !statSync(file).isFile()) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
  createReadStream(file).pipe(res);
});
await new Promise((r) => server.listen(Number(process.env.STATIC_PORT), '127.0.0.1', r));

const browser = await chromium.launch({
  executablePath: process.env.SWITCHBOARD_TEST_CHROMIUM,
  args: ['--no-sandbox'],
});
const page = await browser.newPage();
const failures = [];
page.on('pageerror', (e) => failures.push(String(e)));
await page.goto(`http://127.0.0.1:${process.env.STATIC_PORT}/`);
await page.waitForFunction(() => window.ready === true);
await page.evaluate(([url, key]) => window.start(url, key, 200), [baseUrl, process.env.OFREP_KEY]);

const results = [];
for (const context of cases.contexts) {
  results.push(await page.evaluate(([flags, c]) => window.evaluate(flags, c), [cases.flags, context]));
}
writeFileSync(resultsPath, JSON.stringify(results));
console.log('evaluated');

await page.evaluate(([flags, c]) => window.evaluate(flags, c), [cases.flags, cases.probe]);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const until = async (check) => {
  const start = Date.now();
  for (;;) {
    const [answer, done] = await check();
    if (done || Date.now() - start > 15000) return [answer, Date.now() - start];
    await new Promise((r) => setTimeout(r, 25));
  }
};
const current = () => page.evaluate((flags) => window.current(flags), cases.flags);
await lines.next();
const [flip, flipMs] = await until(async () => {
  const d = (await current())[0];
  return [d, d.reason === 'DISABLED'];
});
console.log(JSON.stringify({ flip, ms: flipMs }));
await lines.next();
const [kill, killMs] = await until(async () => {
  const ds = await current();
  return [ds, ds.every((d) => d.reason === 'DISABLED')];
});
console.log(JSON.stringify({ kill, ms: killMs, pageErrors: failures }));
await browser.close();
server.close();
process.exit(0);
