//! Offline edits on three devices, synced in random orders: everyone converges.

use gridbook_core::domain::{DISTRICT_SCOPE, Household};
use gridbook_tests::{Phone, TestServer, fast_client, household, records_of};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_devices_converge_with_the_server() {
    let server = TestServer::start().await;
    let grid = server.plan.grids[0].clone();
    let scopes = [grid.as_str(), DISTRICT_SCOPE];
    let mut phones = vec![
        Phone::login(&server.url, "grid01", &server.password("grid01"), fast_client()).await,
        Phone::login(&server.url, "grid01", &server.password("grid01"), fast_client()).await,
        Phone::login(&server.url, "leader01", &server.password("leader01"), fast_client()).await,
    ];
    for p in &mut phones {
        let s = p.sync().await;
        assert!(s.received > 0, "bootstrap brought the grid: {s:?}");
    }
    let shared = phones[0].store.create(&household(&grid, "101")).unwrap();
    phones[0].sync().await;
    for p in &mut phones[1..] {
        p.sync().await;
        assert_eq!(p.store.get::<Household>(&shared).unwrap().room, "101");
    }
    for seed in 0..3u64 {
        // Offline: every phone edits the shared household and adds its own.
        for (i, p) in phones.iter_mut().enumerate() {
            let mut h: Household = p.store.get(&shared).unwrap();
            match i {
                0 => h.building = format!("{}栋", 4 + seed),
                1 => h.room = format!("{}", 102 + seed),
                _ => {
                    h.unit = "1单元".into();
                    h.building = format!("{}栋", 9 + seed);
                }
            }
            p.store.update(&shared, &h).unwrap();
            p.store
                .create(&household(&grid, &format!("{}0{}", i + 2, seed)))
                .unwrap();
        }
        let mut order: Vec<usize> = (0..phones.len()).collect();
        let mut rng = StdRng::seed_from_u64(seed);
        for _round in 0..2 {
            order.shuffle(&mut rng);
            for &i in &order {
                phones[i].sync().await;
            }
        }
    }
    let server_heads = server.heads(&scopes);
    let server_records = server.records(&scopes);
    let dump0 = phones[0].store.query_table_dump().unwrap();
    for (i, p) in phones.iter().enumerate() {
        assert_eq!(p.store.outbox_len().unwrap(), 0, "phone {i} pushed everything");
        assert_eq!(
            p.store.doc_heads().unwrap(),
            server_heads,
            "phone {i} holds the server's documents"
        );
        assert_eq!(
            records_of(p.store.connection(), &scopes),
            server_records,
            "phone {i} records rows"
        );
        assert_eq!(p.store.query_table_dump().unwrap(), dump0, "phone {i} query tables");
        assert!(
            !p.store.conflicts().unwrap().is_empty(),
            "the concurrent building edits show as a conflict"
        );
    }
    assert_eq!(server.integrity(), "ok");
    server.stop().await;
}
