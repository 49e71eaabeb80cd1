// The OpenFeature Node server SDK with the OFREP provider against Switchboard (protocol.md).
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { OpenFeature } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';

const [baseUrl, casesPath, resultsPath] = process.argv.slice(2);
const cases = JSON.parse(readFileSync(casesPath, 'utf8'));
await OpenFeature.setProviderAndWait(
  new OFREPProvider({ baseUrl, headers: [['X-API-Key', process.env.OFREP_KEY]] }),
);
const client = OpenFeature.getClient();

const getters = {
  boolean: (k, d, c) => client.getBooleanDetails(k, d, c),
  string: (k, d, c) => client.getStringDetails(k, d, c),
  number: (k, d, c) => client.getNumberDetails(k, d, c),
  object: (k, d, c) => client.getObjectDetails(k, d, c),
};
const details = async (flag, context) => {
  const d = await getters[flag.type](flag.key, flag.default, context);
  if (d.errorCode === 'GENERAL') console.error(`${flag.key}: ${d.errorMessage}`);
  return { value: d.value, variant: d.variant ?? null, reason: d.reason, errorCode: d.errorCode ?? null };
};
const all = (context) => Promise.all(cases.flags.map((flag) => details(flag, context)));

const results = [];
// A few contexts at a time, as an application's concurrent requests would.
for (let i = 0; i < cases.contexts.length; i += 4) {
  const batch = cases.contexts.slice(i, i + 4);
  results.push(...(await Promise.all(batch.map(all))));
}
writeFileSync(resultsPath, JSON.stringify(results));
console.log('evaluated');

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const until = async (check) => {
  const start = Date.now();
  for (;;) {
    const answer = await check();
    if (answer.done || Date.now() - start > 15000) return { ...answer, ms: Date.now() - start };
    await new Promise((r) => setTimeout(r, 50));
  }
};
await lines.next();
const flip = await until(async () => {
  const d = await details(cases.flags[0], cases.probe);
  return { flip: d, done: d.reason === 'DISABLED' };
});
console.log(JSON.stringify({ flip: flip.flip, ms: flip.ms }));
await lines.next();
const kill = await until(async () => {
  const ds = await all(cases.probe);
  return { kill: ds, done: ds.every((d) => d.reason === 'DISABLED') };
});
console.log(JSON.stringify({ kill: kill.kill, ms: kill.ms }));
process.exit(0);
