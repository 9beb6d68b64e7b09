// Issue 10: the table of `bash bench/run.sh`. Usage: node report.mjs BENCH_DIR BUDGET_S DOC
// Reads BENCH_DIR/results.jsonl (gridbook) and partial-*.json (peers), prints one markdown
// table with ratios and replaces the "## Against peers (issue 10)" section of DOC.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const [dir, budget, doc, command] = process.argv.slice(2);
const MARK = "<!-- end of the part bench/report.mjs writes; notes below are kept -->";
const rows = fs
  .readFileSync(path.join(dir, "results.jsonl"), "utf8")
  .split("\n")
  .filter(Boolean)
  .map((l) => JSON.parse(l));
const ns = [...new Set(rows.map((r) => r.n))];
const peer = (system, n) => {
  const f = path.join(dir, `partial-${system}-${n}.json`);
  return fs.existsSync(f) ? JSON.parse(fs.readFileSync(f, "utf8")) : { system, n, phase: "setup" };
};
const PHASES = ["upload", "pull", "nochange", "edit", "done"];
const dnf = (r, phase) => {
  if (r.error) return "failed";
  const at = PHASES.indexOf(r.phase);
  const want = PHASES.indexOf(phase);
  if (at === want || (r.phase === "setup" && want === 0)) return `did not finish in ${budget} s`;
  return "—";
};
const s = (r, k, phase) => (r[k] === undefined ? dnf(r, phase) : `${r[k].toFixed(2)} s`);
const ms = (r) => (r.nochange_ms === undefined ? dnf(r, "nochange") : `${r.nochange_ms.toFixed(r.nochange_ms < 10 ? 2 : 0)} ms`);
const kb = (b) => (b === undefined ? "—" : b >= 1e6 ? `${(b / 1e6).toFixed(1)} MB` : `${(b / 1e3).toFixed(0)} kB`);
const mib = (k) => (k ? `${(k / 1024).toFixed(0)} MiB` : "—");
const ratio = (p, g, k) => (p?.[k] !== undefined && g?.[k] ? `${(p[k] / g[k]).toFixed(1)}×` : "—");

let out = [];
out.push(
  "| N | system | (A) upload | (B) pull | (C) no-change sync, median | (D) 100 edits reach another device | wire A / B / C / D | server peak RSS | server on disk |",
);
out.push("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
const checks = [];
for (const n of ns) {
  const g = rows.find((r) => r.n === n);
  const p = peer("pouchdb", n);
  const a = peer("automerge", n);
  const line = (name, r) =>
    out.push(
      `| ${n.toLocaleString("en")} | ${name} | ${s(r, "upload_s", "upload")} | ${s(r, "pull_s", "pull")} | ${ms(r)} | ${s(r, "edit_s", "edit")} | ${kb(r.upload_bytes)} / ${kb(r.pull_bytes)} / ${kb(r.nochange_bytes)} / ${kb(r.edit_bytes)} | ${mib(r.rss_kib)}${r.phase && r.phase !== "done" ? " (so far)" : ""} | ${kb(r.disk_bytes)} |`,
    );
  line("**gridbook**", g);
  line("PouchDB 9 → pouchdb-server 4.2", p);
  line("automerge-repo 2.5 + sync server", a);
  out.push(`| ${n.toLocaleString("en")} | floor: raw SQLite, same record bytes, 1 transaction | ${g.floor_s.toFixed(3)} s | | | | | | |`);
  for (const [name, r] of [["PouchDB", p], ["automerge-repo", a]]) {
    out.push(
      `| ${n.toLocaleString("en")} | *${name} / gridbook* | ${ratio(r, g, "upload_s")} | ${ratio(r, g, "pull_s")} | ${ratio(r, g, "nochange_ms")} | ${ratio(r, g, "edit_s")} | | ${ratio(r, g, "rss_kib")} | ${ratio(r, g, "disk_bytes")} |`,
    );
  }
  out.push(`| ${n.toLocaleString("en")} | *gridbook / floor* | ${(g.upload_s / g.floor_s).toFixed(1)}× | | | | | | |`);
  if (n === Math.max(...ns)) {
    const ok = (c) => (c ? "met" : "**MISSED**");
    const r = (k) => (p[k] !== undefined ? p[k] / g[k] : NaN);
    checks.push(
      `Targets at N = ${n.toLocaleString("en")}: upload ≥ 5× faster than PouchDB: ${r("upload_s").toFixed(1)}× ${ok(r("upload_s") >= 5)}; ` +
        `pull ≥ 5×: ${r("pull_s").toFixed(1)}× ${ok(r("pull_s") >= 5)}; ` +
        `no-change ≥ 10×: ${r("nochange_ms").toFixed(0)}× ${ok(r("nochange_ms") >= 10)}; ` +
        `server peak RSS ≤ ⅓ of PouchDB's: ${(g.rss_kib / p.rss_kib).toFixed(2)} ${ok(g.rss_kib <= p.rss_kib / 3)}; ` +
        `upload within 5× of the SQLite floor: ${(g.upload_s / g.floor_s).toFixed(1)}× ${ok(g.upload_s <= 5 * g.floor_s)}.`,
    );
  }
}
const table = out.join("\n");
const recordBytes = rows[0]?.record_bytes;
const load = os.loadavg().map((x) => x.toFixed(1)).join(" / ");
console.log(table);
console.log();
for (const c of checks) console.log(c);

const section = `## Against peers (issue 10)

\`${command}\` — one run, all systems, ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC; load
average at the end ${load} (1/5/15 min) on the 2 shared cores, other engineers' builds running, so
read single figures as ±20 % or worse. Records: the gridbook bench's \`HouseCall\` ledgers made through
\`gridbook_core::Store\` (8 checklist booleans, 2 problems, notes in Chinese; ${recordBytes} bytes of JSON each);
the peers get the same JSON, one document per record. Every server is a child process on
127.0.0.1 with its own data folder; every client keeps a real store on disk (gridbook: the phone's
SQLite store; PouchDB: leveldown; automerge-repo: \`NodeFSStorageAdapter\`).

${table}

${checks.join("\n")}

How each system is measured (\`bench/peers.mjs\`, \`sync-server/benches/peers.rs\`):
- (A) gridbook: \`SyncClient::sync\` returns after the server's commit (\`synchronous=FULL\`), i.e.
  durable; PouchDB: one-shot \`replicate.to\` (pouchdb-server writes LevelDB without fsync);
  automerge-repo: timed from connecting until the server's storage adapter has saved every
  document (\`fs.writeFile\`, no fsync). So gridbook's upload includes fsyncs the peers skip.
- (B) a fresh client store: gridbook one \`sync\`; PouchDB \`replicate.from\`; automerge-repo \`find\` of
  every document id (ids handed over out of band; the real app would need an index document).
- (C) gridbook and PouchDB: a full one-shot sync (push + pull, \`PouchDB.sync\`), median of 100 (or
  as many as fit in 60 s); automerge-repo has no one-shot sync: the device reconnects holding N
  documents and the time runs to the last byte before 300 ms of silence (median of up to 100 in 30 s).
- (D) 100 records edited on device A, then A pushes and B pulls (automerge-repo: both connected,
  until B's 100 handles show the edit).
- Wire: gridbook counts its gzip request and response bodies (\`SyncSummary\`, no HTTP headers);
  the peers go through a counting TCP proxy (headers included; pouchdb-server gzips JSON).
- Server peak RSS: \`VmHWM\` of the server process at the end of the run (after A–D). On disk: the
  server's data folder at the end (gridbook: SQLite database + WAL).
- A peer that is still running at the time bound (${budget} s per system and N, local record
  creation included) is killed; its row says which scenario did not finish.
`;
if (doc) {
  let text = fs.readFileSync(doc, "utf8");
  const start = text.indexOf("## Against peers (issue 10)");
  if (start >= 0) {
    // The generated part ends at MARK; hand-written notes after it (up to the next "## ") stay.
    const next = text.indexOf("\n## ", start + 5);
    const end = next >= 0 ? next + 1 : text.length;
    const mark = text.indexOf(MARK, start);
    const kept = mark >= 0 && mark < end ? text.slice(mark + MARK.length, end) : "\n";
    text = text.slice(0, start) + section + MARK + kept + text.slice(end);
  } else {
    text = text.trimEnd() + "\n\n" + section + MARK + "\n";
  }
  fs.writeFileSync(doc, text);
}
