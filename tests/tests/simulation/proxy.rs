//! The fault layer: an HTTP proxy on 127.0.0.1 between the phones and the server that drops
//! requests, drops responses after the server committed, duplicates, delays (and so reorders)
//! and truncates bodies, as a seeded random plan decides.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Kinds of fault, as counted in the report.
pub const FAULTS: &[&str] = &["drop_request", "drop_response", "duplicate", "delay", "truncate"];

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
    http: reqwest::Client,
    /// Where phones connect.
    pub addr: SocketAddr,
}

impl Proxy {
    /// Start a proxy to `127.0.0.1:upstream_port`.
    pub async fn start(seed: u64, upstream_port: u16) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let proxy = Proxy {
            plan: Arc::new(Mutex::new(Plan {
                rng: StdRng::seed_from_u64(seed),
                rate: 0.0,
                counts: BTreeMap::new(),
                forwarded: 0,
            })),
            upstream: Arc::new(Mutex::new(upstream_port)),
            http: reqwest::Client::builder()
                .no_gzip()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("proxy client"),
            addr,
        };
        let app = axum::Router::new().fallback(forward).with_state(proxy.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
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

    fn decide(&self) -> Option<(&'static str, u64)> {
        let mut p = self.plan.lock().expect("plan");
        let rate = p.rate;
        if rate <= 0.0 || !p.rng.random_bool(rate) {
            return None;
        }
        let kind = FAULTS[p.rng.random_range(0..FAULTS.len())];
        let arg = p.rng.random_range(1..60);
        *p.counts.entry(kind).or_default() += 1;
        Some((kind, arg))
    }

    async fn send(&self, method: &Method, uri: &Uri, headers: &HeaderMap, body: Bytes) -> Result<Response, String> {
        let port = *self.upstream.lock().expect("upstream");
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut req = self
            .http
            .request(method.clone(), format!("http://127.0.0.1:{port}{path}"));
        for (name, value) in headers {
            if name != "host" && name != "content-length" {
                req = req.header(name, value);
            }
        }
        let resp = req.body(body).send().await.map_err(|e| e.to_string())?;
        let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        let mut out = Response::builder().status(status);
        for (name, value) in resp.headers() {
            if name != "content-length" && name != "transfer-encoding" {
                out = out.header(name, value);
            }
        }
        let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
        self.plan.lock().expect("plan").forwarded += 1;
        out.body(Body::from(bytes)).map_err(|e| e.to_string())
    }
}

fn bad_gateway(why: &str) -> Response {
    (
        StatusCode::BAD_GATEWAY,
        [("content-type", "application/json")],
        format!(r#"{{"code":"bad_gateway","message":"{why}"}}"#),
    )
        .into_response()
}

async fn forward(State(p): State<Proxy>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let result = match p.decide() {
        None => p.send(&method, &uri, &headers, body).await,
        Some(("drop_request", _)) => return bad_gateway("request dropped"),
        Some(("drop_response", _)) => {
            // The server gets it and commits; the phone never hears back.
            let _ = p.send(&method, &uri, &headers, body).await;
            return bad_gateway("response dropped");
        }
        Some(("duplicate", _)) => {
            let _ = p.send(&method, &uri, &headers, body.clone()).await;
            p.send(&method, &uri, &headers, body).await
        }
        Some(("delay", ms)) => {
            tokio::time::sleep(Duration::from_millis(ms * 5)).await;
            p.send(&method, &uri, &headers, body).await
        }
        Some(("truncate", cut)) => {
            let keep = body.len() * (cut as usize) / 60;
            p.send(&method, &uri, &headers, body.slice(..keep)).await
        }
        Some(_) => p.send(&method, &uri, &headers, body).await,
    };
    result.unwrap_or_else(|e| bad_gateway(&format!("upstream: {e}")))
}
