// Issue 10: the peers' side of `bash bench/run.sh`. Usage: node peers.mjs (pouchdb|automerge) N
// Reads $BENCH_DIR/records-N.jsonl (written by the gridbook bench: the same record bytes), starts
// the peer's server as a child process on 127.0.0.1, runs scenarios A-D with a real client store
// on disk, and writes $BENCH_DIR/partial-SYSTEM-N.json after every phase (run.sh kills this
// process at its time bound; the report then says which phase did not finish).
// Bytes on the wire are counted by a TCP proxy in front of the server (both directions).

import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const [system, nArg] = process.argv.slice(2);
const N = Number(nArg);
const OUT = process.env.BENCH_DIR ?? "/tmp/peer-bench";
const work = fs.mkdtempSync(path.join(OUT, `${system}-${N}-`));
const records = fs
  .readFileSync(path.join(OUT, `records-${N}.jsonl`), "utf8")
  .split("\n")
  .filter(Boolean)
  .map((l) => JSON.parse(l));
if (records.length !== N) throw new Error(`records-${N}.jsonl has ${records.length} lines`);

const result = { system, n: N, phase: "setup" };
const partial = path.join(OUT, `partial-${system}-${N}.json`);
let serverPid = 0;
const save = () => {
  if (serverPid && result.phase !== "done") result.rss_kib = vmKib(serverPid, "VmHWM:");
  fs.writeFileSync(partial, JSON.stringify(result));
};
const children = [];
const cleanup = () => {
  for (const c of children) {
    try {
      c.kill("SIGKILL");
    } catch {}
  }
};
process.on("exit", cleanup);
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => process.exit(124));
// automerge-repo's client adapter may still be opening a socket when the no-change loop closes
// it; ws then emits an error nobody listens to. That one is expected; anything else is fatal.
process.on("uncaughtException", (e) => {
  if (String(e?.message).includes("closed before the connection was established")) return;
  result.error = String(e?.stack ?? e);
  save();
  console.error(e);
  process.exit(1);
});

function vmKib(pid, key) {
  try {
    const line = fs
      .readFileSync(`/proc/${pid}/status`, "utf8")
      .split("\n")
      .find((l) => l.startsWith(key));
    return Number(line.split(/\s+/)[1]);
  } catch {
    return 0;
  }
}
function du(p) {
  let total = 0;
  for (const e of fs.readdirSync(p, { withFileTypes: true })) {
    const f = path.join(p, e.name);
    total += e.isDirectory() ? du(f) : fs.statSync(f).size;
  }
  return total;
}
async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
async function waitPort(port, ms = 30000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise((res) => {
      const c = net.connect(port, "127.0.0.1", () => (c.end(), res(true)));
      c.on("error", () => res(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`server did not listen on ${port}`);
}
// Counting TCP proxy: wire bytes in both directions.
function proxy(target) {
  const counter = { bytes: 0 };
  const server = net.createServer((c) => {
    const s = net.connect(target, "127.0.0.1");
    c.on("data", (d) => ((counter.bytes += d.length), (counter.last = now())));
    s.on("data", (d) => ((counter.bytes += d.length), (counter.last = now())));
    c.pipe(s);
    s.pipe(c);
    c.on("error", () => s.destroy());
    s.on("error", () => c.destroy());
  });
  return new Promise((res) =>
    server.listen(0, "127.0.0.1", () => res({ port: server.address().port, counter, server })),
  );
}
const now = () => performance.now() / 1000;
function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function startServer(cmd, args, port) {
  const child = spawn(process.execPath, [cmd, ...args], {
    cwd: work,
    stdio: ["ignore", "ignore", "inherit"],
  });
  children.push(child);
  serverPid = child.pid;
  await waitPort(port);
  return child;
}

async function pouch() {
  const { default: PouchDB } = await import("pouchdb");
  const port = await freePort();
  const dataDir = path.join(work, "server");
  fs.mkdirSync(dataDir);
  const server = await startServer(
    path.join(here, "node_modules/pouchdb-server/bin/pouchdb-server"),
    ["--port", String(port), "--host", "127.0.0.1", "--dir", dataDir, "--no-stdout-logs",
     "--config", path.join(work, "config.json")],
    port,
  );
  const px = await proxy(port);
  const remote = `http://127.0.0.1:${px.port}/ledgers`;
  await fetch(`http://127.0.0.1:${port}/ledgers`, { method: "PUT" });
  result.disk_before = du(dataDir);

  const a = new PouchDB(path.join(work, "a"));
  const docs = records.map((r, i) => ({ _id: `hc-${String(i).padStart(6, "0")}`, ...r }));
  for (let i = 0; i < docs.length; i += 500) await a.bulkDocs(docs.slice(i, i + 500));

  result.phase = "upload";
  save();
  let b0 = px.counter.bytes;
  let t = now();
  const up = await a.replicate.to(remote);
  result.upload_s = now() - t;
  result.upload_bytes = px.counter.bytes - b0;
  if (up.docs_written !== N) throw new Error(`pushed ${up.docs_written}`);
  result.phase = "pull";
  save();

  const b = new PouchDB(path.join(work, "b"));
  b0 = px.counter.bytes;
  t = now();
  const down = await b.replicate.from(remote);
  result.pull_s = now() - t;
  result.pull_bytes = px.counter.bytes - b0;
  if (down.docs_written !== N) throw new Error(`pulled ${down.docs_written}`);
  result.phase = "nochange";
  save();

  const times = [];
  const end = now() + 60;
  for (let i = 0; i < 100 && now() < end; i++) {
    b0 = px.counter.bytes;
    t = now();
    await b.sync(remote);
    times.push(now() - t);
    result.nochange_bytes = px.counter.bytes - b0;
  }
  result.nochange_ms = median(times) * 1e3;
  result.nochange_runs = times.length;
  result.phase = "edit";
  save();

  const edits = [];
  for (let i = 0; i < 100; i++) {
    const d = await a.get(docs[i]._id);
    d.notes = `${d.notes}（第${i + 1}次修改）`;
    edits.push(d);
  }
  await a.bulkDocs(edits);
  b0 = px.counter.bytes;
  t = now();
  await a.replicate.to(remote);
  const got = await b.replicate.from(remote);
  result.edit_s = now() - t;
  result.edit_bytes = px.counter.bytes - b0;
  if (got.docs_written !== 100) throw new Error(`edits reached: ${got.docs_written}`);
  result.rss_kib = vmKib(server.pid, "VmHWM:");
  result.disk_bytes = du(dataDir);
  result.phase = "done";
  save();
}

async function automerge() {
  const { Repo } = await import("@automerge/automerge-repo");
  const { WebSocketClientAdapter } = await import("@automerge/automerge-repo-network-websocket");
  const { NodeFSStorageAdapter } = await import("@automerge/automerge-repo-storage-nodefs");
  const port = await freePort();
  const dataDir = path.join(work, "server");
  const server = await startServer(path.join(here, "automerge-server.mjs"), [String(port), dataDir], port);
  const px = await proxy(port);
  const url = `ws://127.0.0.1:${px.port}`;
  const stats = async () => (await fetch(`http://127.0.0.1:${port}/stats`)).json();
  result.disk_before = 0;

  // Device A: N documents in its own storage, offline.
  const a = new Repo({ storage: new NodeFSStorageAdapter(path.join(work, "a")), network: [] });
  const handles = records.map((r) => a.create(r));
  await a.flush();
  const ids = handles.map((h) => h.documentId);

  result.phase = "upload";
  save();
  let b0 = px.counter.bytes;
  let t = now();
  const netA = new WebSocketClientAdapter(url);
  a.networkSubsystem.addNetworkAdapter(netA);
  // Done when the server's storage holds every document (its save counter, see the server).
  for (;;) {
    const s = await stats();
    if (s.docs_saved >= N) break;
    await sleep(20);
  }
  result.upload_s = now() - t;
  result.upload_bytes = px.counter.bytes - b0;
  result.phase = "pull";
  save();

  // Device B: fresh storage, asks for every document by id.
  const b = new Repo({
    storage: new NodeFSStorageAdapter(path.join(work, "b")),
    network: [new WebSocketClientAdapter(url)],
  });
  b0 = px.counter.bytes;
  t = now();
  const bHandles = [];
  for (let i = 0; i < ids.length; i += 500) {
    bHandles.push(...(await Promise.all(ids.slice(i, i + 500).map((id) => b.find(id)))));
  }
  await b.flush();
  result.pull_s = now() - t;
  result.pull_bytes = px.counter.bytes - b0;
  result.phase = "nochange";
  save();

  // No-change sync: device B reconnects holding N documents (automerge-repo has no one-shot
  // sync); timed from the connect to the last byte on the wire before 300 ms of silence.
  const times = [];
  const end = now() + 30;
  for (let i = 0; i < 100 && now() < end; i++) {
    for (const adapter of [...b.networkSubsystem.adapters]) {
      adapter.disconnect();
      b.networkSubsystem.adapters = b.networkSubsystem.adapters.filter((x) => x !== adapter);
    }
    await sleep(50);
    b0 = px.counter.bytes;
    t = now();
    b.networkSubsystem.addNetworkAdapter(new WebSocketClientAdapter(url));
    const stop = now() + 30;
    for (;;) {
      await sleep(20);
      if ((px.counter.bytes > b0 && now() - px.counter.last > 0.3) || now() > stop) break;
    }
    times.push(px.counter.last - t);
    result.nochange_bytes = px.counter.bytes - b0;
  }
  result.nochange_ms = median(times) * 1e3;
  result.nochange_runs = times.length;
  result.phase = "edit";
  save();

  // 100 edits on A reach B (both connected).
  await sleep(500);
  b0 = px.counter.bytes;
  const byId = new Map(bHandles.map((h) => [h.documentId, h]));
  const waits = ids.slice(0, 100).map((id, i) => {
    const h = byId.get(id);
    return new Promise((res) => {
      const check = () => {
        const d = h.doc();
        if (d && typeof d.notes === "string" && d.notes.endsWith(`（第${i + 1}次修改）`)) {
          h.off("change", check);
          res();
        }
      };
      h.on("change", check);
    });
  });
  t = now();
  handles.slice(0, 100).forEach((h, i) =>
    h.change((d) => {
      d.notes = `${d.notes}（第${i + 1}次修改）`;
    }),
  );
  await Promise.all(waits);
  result.edit_s = now() - t;
  result.edit_bytes = px.counter.bytes - b0;
  await sleep(1000);
  result.rss_kib = vmKib(server.pid, "VmHWM:");
  result.disk_bytes = du(dataDir);
  result.phase = "done";
  save();
}

try {
  if (system === "pouchdb") await pouch();
  else if (system === "automerge") await automerge();
  else throw new Error(`unknown system ${system}`);
  process.exit(0);
} catch (e) {
  result.error = String(e?.stack ?? e);
  save();
  console.error(e);
  process.exit(1);
}
