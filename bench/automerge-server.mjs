// A minimal automerge-repo sync server (like automerge-repo-sync-server): a Repo on Node's
// filesystem storage behind a WebSocket adapter. Usage: node automerge-server.mjs PORT DIR
// GET /stats: {docs_saved: documents with data in storage, sent: messages sent to clients}.
import http from "node:http";
import { Repo } from "@automerge/automerge-repo";
import { WebSocketServerAdapter } from "@automerge/automerge-repo-network-websocket";
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs";
import { WebSocketServer } from "ws";

const [port, dir] = process.argv.slice(2);
const saved = new Set();
let sent = 0;

class CountingStorage extends NodeFSStorageAdapter {
  async save(key, data) {
    await super.save(key, data);
    if (key[1] === "incremental" || key[1] === "snapshot") saved.add(key[0]);
  }
}

const wss = new WebSocketServer({ noServer: true });
wss.on("connection", (ws) => {
  const send = ws.send.bind(ws);
  ws.send = (...args) => {
    sent++;
    return send(...args);
  };
});
const server = http.createServer((req, res) => {
  if (req.url === "/stats") {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ docs_saved: saved.size, sent }));
  } else {
    res.statusCode = 404;
    res.end();
  }
});
server.on("upgrade", (req, socket, head) =>
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req)),
);
new Repo({
  network: [new WebSocketServerAdapter(wss)],
  storage: new CountingStorage(dir),
  sharePolicy: async () => false,
});
server.listen(Number(port), "127.0.0.1");
