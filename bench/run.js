// npm run bench [-- NAME...]: runs every bench/cases/*.js (or those whose file name contains a NAME),
// prints a table and writes bench/results/<timestamp>.json and bench/results/latest.json.
//
// A case module: `export default async function (ctx) { return BenchResult[] }`, where
//   BenchResult = { name, value, unit, better: 'higher'|'lower', peers?: { [peer]: number } }
//   ctx = { tmp: a fresh temp dir removed afterwards, log(msg) }
// A peer's figure is measured in the same run, on the same machine, with the same input.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const files = readdirSync(join(here, 'cases'))
  .filter((f) => f.endsWith('.js'))
  .filter((f) => filters.length === 0 || filters.some((n) => f.includes(n)))
  .sort();

/** How many times better we are than the peer (>1: we win), whichever direction is better. */
function advantage(r, peer) {
  if (!peer || !r.value) return undefined;
  return r.better === 'lower' ? peer / r.value : r.value / peer;
}

function fmt(n) {
  if (n === undefined || Number.isNaN(n)) return '-';
  if (Math.abs(n) >= 100) return n.toFixed(0);
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(n === Math.round(n) ? 0 : 3);
}

const results = [];
const failures = [];
for (const file of files) {
  const tmp = mkdtempSync(join(tmpdir(), `tsbuild-bench-${file.replace(/\.js$/, '')}-`));
  const started = Date.now();
  process.stderr.write(`== ${file}\n`);
  try {
    const mod = await import(pathToFileURL(join(here, 'cases', file)).href);
    const out = await mod.default({ tmp, log: (m) => process.stderr.write(`   ${m}\n`) });
    for (const r of out) results.push({ case: file.replace(/\.js$/, ''), ...r });
  } catch (e) {
    failures.push({ case: file, error: String(e?.stack ?? e) });
    process.stderr.write(`   FAILED: ${e?.message ?? e}\n`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    process.stderr.write(`   (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
  }
}

const rows = [['benchmark', 'tsbuild', 'unit', 'peer', 'peer value', 'ratio', 'tsbuild better by']];
for (const r of results) {
  const peers = Object.entries(r.peers ?? {});
  if (peers.length === 0) rows.push([`${r.case}: ${r.name}`, fmt(r.value), r.unit, '', '', '', '']);
  for (const [peer, v] of peers) {
    const adv = advantage(r, v);
    rows.push([`${r.case}: ${r.name}`, fmt(r.value), r.unit, peer, fmt(v), fmt(v ? r.value / v : undefined), adv ? `${fmt(adv)}x` : '-']);
  }
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => String(row[i]).length)));
for (const [i, row] of rows.entries()) {
  console.log(row.map((c, j) => (j === 0 || j === 2 || j === 3 ? String(c).padEnd(widths[j]) : String(c).padStart(widths[j]))).join('  '));
  if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
}

const report = {
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memoryBytes: totalmem(), node: process.version },
  results: results.map((r) => ({
    ...r,
    peers: Object.fromEntries(Object.entries(r.peers ?? {}).map(([p, v]) => [p, { value: v, ratio: v ? r.value / v : null, advantage: advantage(r, v) ?? null }])),
  })),
  failures,
};
const outDir = join(here, 'results');
mkdirSync(outDir, { recursive: true });
const json = JSON.stringify(report, null, 2);
writeFileSync(join(outDir, `${report.date.replace(/[:.]/g, '-')}.json`), json);
writeFileSync(join(outDir, 'latest.json'), json);
console.log(`\nwrote ${join('bench', 'results', 'latest.json')}${failures.length ? `; ${failures.length} case(s) failed` : ''}`);
process.exitCode = failures.length ? 1 : 0;
