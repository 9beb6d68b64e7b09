//! The fault layer: a TCP proxy on 127.0.0.1 between the phones and the server, speaking just
//! enough HTTP/1.1 to find a request's end (one request per connection: it forwards with
//! `connection: close`). As a seeded random plan decides, it answers without forwarding, drops
//! the answer after the server committed, duplicates, delays (so reorders) and truncates
//! request bodies, and it breaks the transport itself: a connection reset in the middle of the
//! request body (the server never gets a whole request) or of the response body (the server
//! committed), a response cut after N bytes with a clean close, a response held back until the
//! client's timeout gives up, and a response trickled out a few bytes at a time.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Kinds of fault, as counted in the report. Every kind must occur in a 100-seed run.
pub const FAULTS: &[&str] = &[
    "drop_request",
    "drop_response",
    "duplicate",
    "delay",
    "truncate_request",
    "reset_in_request_body",
    "reset_in_response_body",
    "cut_response",
    "stall_response",
    "trickle_response",
];

struct Plan {
    rng: StdRng,
    /// Probability that a request meets a fault.
    rate: f64,
    counts: BTreeMap<&'static str, u64>,
    forwarded: u64,
}

/// Shared handle of the proxy.
#[derive(Clone)]
pub struct Proxy {
    plan: Arc<Mutex<Plan>>,
    upstream: Arc<Mutex<u16>>,
    /// Sync requests carrying changes or person keys, forwarded and not yet answered.
    pushes_in_flight: Arc<AtomicU64>,
    /// Where phones connect.
    pub addr: SocketAddr,
}

/// Counts a push as in flight while alive.
struct InFlight(Arc<AtomicU64>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Proxy {
    /// Start a proxy to `127.0.0.1:upstream_port`.
    pub async fn start(seed: u64, upstream_port: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let proxy = Proxy {
            plan: Arc::new(Mutex::new(Plan {
                rng: StdRng::seed_from_u64(seed ^ 0x5eed_f00d),
                rate: 0.0,
                counts: BTreeMap::new(),
                forwarded: 0,
            })),
            upstream: Arc::new(Mutex::new(upstream_port)),
            pushes_in_flight: Arc::new(AtomicU64::new(0)),
            addr,
        };
        let p = proxy.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(p.clone().handle(conn));
            }
        });
        proxy
    }

    /// The URL phones use.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Fault probability per request (0 = a clean network).
    pub fn set_rate(&self, rate: f64) {
        self.plan.lock().expect("plan").rate = rate;
    }

    /// Faults injected so far, by kind, and requests forwarded.
    pub fn counts(&self) -> (BTreeMap<&'static str, u64>, u64) {
        let p = self.plan.lock().expect("plan");
        (p.counts.clone(), p.forwarded)
    }

    /// Pushes (sync requests with changes or keys) the server has and has not answered yet.
    pub fn pushes_in_flight(&self) -> u64 {
        self.pushes_in_flight.load(Ordering::SeqCst)
    }

    fn decide(&self) -> Option<(&'static str, u64)> {
        let mut p = self.plan.lock().expect("plan");
        let rate = p.rate;
        if rate <= 0.0 || !p.rng.random_bool(rate) {
            return None;
        }
        // A stalled response costs the client's whole timeout: rarer than the others.
        let weight = |k: &str| if k == "stall_response" { 1 } else { 3 };
        let total: u32 = FAULTS.iter().map(|k| weight(k)).sum();
        let mut at = p.rng.random_range(0..total);
        let mut kind = FAULTS[0];
        for k in FAULTS {
            if at < weight(k) {
                kind = k;
                break;
            }
            at -= weight(k);
        }
        let arg = p.rng.random_range(1..60);
        *p.counts.entry(kind).or_default() += 1;
        Some((kind, arg))
    }

    async fn handle(self, mut client: TcpStream) {
        let Some(req) = read_request(&mut client).await else {
            return;
        };
        match self.decide() {
            None => {
                let resp = self.forward(&req, None).await;
                respond(&mut client, resp).await;
            }
            Some(("drop_request", _)) => reply_502(&mut client, "request dropped").await,
            Some(("drop_response", _)) => {
                // The server gets it and commits; the phone never hears back.
                let _ = self.forward(&req, None).await;
                reply_502(&mut client, "response dropped").await;
            }
            Some(("duplicate", _)) => {
                let _ = self.forward(&req, None).await;
                let resp = self.forward(&req, None).await;
                respond(&mut client, resp).await;
            }
            Some(("delay", ms)) => {
                tokio::time::sleep(Duration::from_millis(ms * 5)).await;
                let resp = self.forward(&req, None).await;
                respond(&mut client, resp).await;
            }
            Some(("truncate_request", cut)) => {
                let keep = req.body.len() * (cut as usize) / 60;
                let short = Request {
                    head: with_content_length(&req.head, keep),
                    body: req.body[..keep].to_vec(),
                    path: req.path.clone(),
                };
                let resp = self.forward(&short, None).await;
                respond(&mut client, resp).await;
            }
            Some(("reset_in_request_body", cut)) => {
                // Part of the body reaches the server, then both connections are reset.
                let keep = req.body.len() * (cut as usize) / 60;
                let _ = self.forward(&req, Some(keep)).await;
                reset(client);
            }
            Some(("reset_in_response_body", cut)) => {
                let Some(resp) = self.forward(&req, None).await else {
                    return reset(client);
                };
                let body_at = find(&resp, b"\r\n\r\n").map_or(0, |i| i + 4);
                let keep = body_at + (resp.len() - body_at) * (cut as usize) / 60;
                let _ = client.write_all(&resp[..keep]).await;
                let _ = client.flush().await;
                reset(client);
            }
            Some(("cut_response", cut)) => {
                // A clean close after N bytes, anywhere in the response (head included).
                let Some(resp) = self.forward(&req, None).await else {
                    return;
                };
                let keep = resp.len() * (cut as usize) / 60;
                let _ = client.write_all(&resp[..keep]).await;
                let _ = client.shutdown().await;
            }
            Some(("stall_response", _)) => {
                // The server committed; the answer never comes until the client gives up.
                let _ = self.forward(&req, None).await;
                let mut sink = [0u8; 256];
                let _ = tokio::time::timeout(Duration::from_secs(60), client.read(&mut sink)).await;
            }
            Some(("trickle_response", _)) => {
                let Some(resp) = self.forward(&req, None).await else {
                    return;
                };
                for (i, chunk) in resp.chunks(97).enumerate() {
                    if client.write_all(chunk).await.is_err() {
                        return;
                    }
                    if i < 40 {
                        tokio::time::sleep(Duration::from_millis(7)).await;
                    }
                }
            }
            Some(_) => unreachable!("every fault kind is handled"),
        }
    }

    /// Send the request upstream (only `body_bytes` of its body, then a reset, if given) and
    /// read the whole response. `None`: the server is down or the exchange broke.
    async fn forward(&self, req: &Request, body_bytes: Option<usize>) -> Option<Vec<u8>> {
        let port = *self.upstream.lock().expect("upstream");
        let _guard = (req.path.starts_with("/v1/sync") && is_push(&req.body)).then(|| {
            self.pushes_in_flight.fetch_add(1, Ordering::SeqCst);
            InFlight(self.pushes_in_flight.clone())
        });
        let mut up = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        up.write_all(&req.head).await.ok()?;
        if let Some(n) = body_bytes {
            let _ = up.write_all(&req.body[..n]).await;
            let _ = up.flush().await;
            reset(up);
            return None;
        }
        up.write_all(&req.body).await.ok()?;
        let mut resp = Vec::new();
        tokio::time::timeout(Duration::from_secs(60), up.read_to_end(&mut resp))
            .await
            .ok()?
            .ok()?;
        if resp.is_empty() {
            return None;
        }
        self.plan.lock().expect("plan").forwarded += 1;
        Some(resp)
    }
}

/// Whether a sync request body (gzip, CBOR) carries changes or person keys.
fn is_push(body: &[u8]) -> bool {
    gridbook_core::sync::client::gunzip(body, 64 << 20)
        .ok()
        .and_then(|plain| gridbook_core::sync::wire::decode_request(&plain).ok())
        .is_some_and(|r| !r.push.is_empty() || !r.person_keys.is_empty())
}

struct Request {
    /// The head as forwarded: `connection: close` instead of the client's keep-alive.
    head: Vec<u8>,
    body: Vec<u8>,
    path: String,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn read_request(client: &mut TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 << 10];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 << 10 {
            return None;
        }
        let n = client.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut length = 0usize;
    let mut lines = Vec::new();
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().ok()?;
        }
        if lower.starts_with("connection:") {
            continue;
        }
        lines.push(line.to_string());
    }
    lines.push("connection: close".into());
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = client.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Some(Request {
        head: format!("{}\r\n\r\n", lines.join("\r\n")).into_bytes(),
        body,
        path,
    })
}

fn with_content_length(head: &[u8], n: usize) -> Vec<u8> {
    let text = String::from_utf8_lossy(head);
    let lines: Vec<String> = text
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|l| {
            if l.to_ascii_lowercase().starts_with("content-length:") {
                format!("content-length: {n}")
            } else {
                l.to_string()
            }
        })
        .collect();
    format!("{}\r\n\r\n", lines.join("\r\n")).into_bytes()
}

/// The server's answer, or `502` when it did not answer (down, killed), as a reverse proxy
/// in front of a real server would.
async fn respond(client: &mut TcpStream, resp: Option<Vec<u8>>) {
    match resp {
        Some(r) => {
            let _ = client.write_all(&r).await;
        }
        None => reply_502(client, "upstream did not answer").await,
    }
}

async fn reply_502(client: &mut TcpStream, why: &str) {
    let body = format!(r#"{{"code":"bad_gateway","message":"{why}"}}"#);
    let resp = format!(
        "HTTP/1.1 502 Bad Gateway\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = client.write_all(resp.as_bytes()).await;
}

/// Close with a TCP reset (RST), not a clean FIN.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}
