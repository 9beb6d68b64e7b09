//! On the wire (issue 9): the server serves HTTPS itself (rustls), with certificates made here
//! with rcgen: a client that trusts the test CA syncs; one that does not fails with a typed
//! error; plain HTTP to the TLS port gets no HTTP answer (a TLS alert, then the connection is
//! closed); the client refuses `http://` unless the development flag is set; graceful shutdown
//! still finishes the sync in flight.

use std::path::Path;

use gridbook_core::domain::Role;
use gridbook_core::sync::SyncClient;
use gridbook_core::sync::client::ClientConfig;
use gridbook_core::{Identity, Store};
use gridbook_tests::{TestServer, household};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// A test CA and a server certificate for `localhost` and 127.0.0.1, as PEM files in `dir`.
/// Returns the CA certificate (PEM).
fn make_certs(dir: &Path) -> Vec<u8> {
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "测试区网格 CA (test)");
    let ca_cert = ca.self_signed(&ca_key).expect("ca cert");
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().expect("server key");
    let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, "gridbook test server");
    let cert = params.signed_by(&key, &issuer).expect("server cert");
    std::fs::write(dir.join("server.crt"), cert.pem()).expect("write cert");
    std::fs::write(dir.join("server.key"), key.serialize_pem()).expect("write key");
    ca_cert.pem().into_bytes()
}

fn nobody() -> Identity {
    Identity {
        account_id: String::new(),
        role: Role::GridLeader,
        org_node: String::new(),
        grids: vec![],
    }
}

async fn tls_server(dir: &Path) -> TestServer {
    let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
    TestServer::start_with(|c| {
        c.tls_cert = Some(cert);
        c.tls_key = Some(key);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_server_serves_a_client_that_trusts_its_ca_and_only_that() {
    let certs = tempfile::tempdir().unwrap();
    let ca = make_certs(certs.path());
    let server = tls_server(certs.path()).await;
    assert!(server.url.starts_with("https://"), "{}", server.url);
    let grid = server.plan.grids[0].clone();
    let phones = tempfile::tempdir().unwrap();

    // Trusts the district CA: logs in and syncs over TLS.
    let trusting = ClientConfig {
        extra_root_certs_pem: vec![ca.clone()],
        max_push_changes: 1_000,
        max_push_bytes: 16 << 20,
        ..ClientConfig::default()
    };
    let mut store = Store::open(&phones.path().join("a.sqlite3"), nobody()).unwrap();
    let mut client = SyncClient::with_config(&server.url, trusting).expect("https client");
    client
        .login(&mut store, "grid01", &server.password("grid01"), "tls phone")
        .await
        .expect("login over TLS");
    client.sync(&mut store).await.expect("first sync over TLS");
    store.create(&household(&grid, "101")).unwrap();
    let summary = client.sync(&mut store).await.expect("sync over TLS");
    assert_eq!(summary.sent, 1);
    assert_eq!(store.outbox_len().unwrap(), 0);

    // Does not trust it: a typed error, nothing sent.
    let mut other = Store::open(&phones.path().join("b.sqlite3"), nobody()).unwrap();
    let mut stranger = SyncClient::with_config(&server.url, ClientConfig::default()).unwrap();
    let e = stranger
        .login(&mut other, "grid02", &server.password("grid02"), "x")
        .await
        .unwrap_err();
    assert_eq!(e.code(), "untrusted_server", "{e}");

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain_url = server.url.replace("https://", "http://");
    let plain = reqwest::Client::new()
        .get(format!("{plain_url}/health"))
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await;
    assert!(
        plain.is_err() || !plain.as_ref().unwrap().status().is_success(),
        "plain HTTP must not be served: {plain:?}"
    );
    let insecure = ClientConfig {
        allow_insecure_http: true,
        ..ClientConfig::default()
    };
    let mut c = SyncClient::with_config(&plain_url, insecure).unwrap();
    let e = c
        .login(&mut other, "grid02", &server.password("grid02"), "x")
        .await
        .unwrap_err();
    assert_eq!(e.code(), "network_error", "{e}");

    // The client refuses http:// unless the development flag is set.
    let e = SyncClient::new(&plain_url).unwrap_err();
    assert_eq!(e.code(), "insecure_url");
    assert_eq!(
        SyncClient::with_config(&plain_url, ClientConfig::default())
            .unwrap_err()
            .code(),
        "insecure_url"
    );

    // Graceful shutdown over TLS: the sync in flight finishes and is acked.
    for i in 0..400 {
        store.create(&household(&grid, &format!("2{i:03}"))).unwrap();
    }
    let mut server = server;
    let in_flight = tokio::spawn(async move {
        let r = client.sync(&mut store).await;
        (r, store)
    });
    let mut seen = false;
    for _ in 0..5_000 {
        if server.state.push_lock.try_lock().is_err() {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    assert!(seen, "the push was under way");
    server.shutdown().await;
    let (result, store) = in_flight.await.unwrap();
    let summary = result.expect("the sync in flight finished");
    assert_eq!(summary.sent, 400, "and was acked");
    assert_eq!(store.outbox_len().unwrap(), 0);
    assert_eq!(server.integrity(), "ok");
}
