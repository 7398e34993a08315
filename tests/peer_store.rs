//! Peer stores in whole runs: the run database `peers.sqlite` (tables, one row per known peer,
//! byte-identical across runs), crashes that reload what was last synced, and `--peers-from`.

use rusqlite::Connection;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::Path;
use syncsim::scenario::parse;

/// A tracker and `peers` nodes discovering each other (RandomWalk, target 4), with peer stores
/// synced every `sync` ticks; ticks of one second.
fn overlay(peers: u32, duration: u64, sync: u64) -> Value {
    json!({
        "name": "stores", "duration": duration, "tick_ms": 1000,
        "nodes": [{"name": "tracker"}, {"name": "peer", "count": peers}],
        "discovery": {
            "walkers": [{"strategy": "RandomWalk", "peers": 4, "init": {}}],
            "bootstrappers": ["tracker"]
        },
        "peer_store": {"sync_interval": sync}
    })
}

fn run(doc: &Value) -> syncsim::Executed {
    syncsim::simulate(&parse("stores.json", &doc.to_string(), &[], None).unwrap())
}

/// The run's database, written to `dir` and opened.
fn open_db(run: &syncsim::Executed, dir: &Path) -> Connection {
    let path = dir.join("peers.sqlite");
    std::fs::write(&path, &run.files["peers.sqlite"]).unwrap();
    Connection::open(&path).unwrap()
}

fn columns(db: &Connection, table: &str) -> Vec<(String, String)> {
    let mut q = db
        .prepare(&format!(
            "SELECT name, type FROM pragma_table_info('{table}')"
        ))
        .unwrap();
    q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// `(node, peer_id)` rows of the peers table.
fn peer_rows(db: &Connection) -> BTreeSet<(String, u32)> {
    let mut q = db.prepare("SELECT node, peer_id FROM peers").unwrap();
    q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn the_run_database_has_the_documented_tables_and_every_store_in_it() {
    let tmp = tempfile::tempdir().unwrap();
    let r = run(&overlay(12, 60, 10));
    let db = open_db(&r, tmp.path());
    let s = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert_eq!(
        columns(&db, "meta"),
        s(&[
            ("node", "TEXT"),
            ("uuid", "TEXT"),
            ("db_created", "INTEGER")
        ])
    );
    assert_eq!(
        columns(&db, "peers"),
        s(&[
            ("node", "TEXT"),
            ("peer_id", "INTEGER"),
            ("uuid", "TEXT"),
            ("host", "TEXT"),
            ("port", "INTEGER")
        ])
    );
    let journal: String = db
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
    // Every node has its uuid (32 hex digits), created at the first sync (tick 0).
    let mut q = db
        .prepare("SELECT node, uuid, db_created FROM meta ORDER BY node")
        .unwrap();
    let meta: Vec<(String, String, i64)> = q
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(meta.len(), 13);
    assert!(
        meta.iter().all(|(_, u, c)| u.len() == 32
            && u.chars().all(|ch| ch.is_ascii_hexdigit())
            && *c == 0)
    );
    // The peers rows are the stores' peers at the last sync (tick 50): every verified peer is in
    // its store, and a peer's uuid in another's store is its own uuid.
    let rows = peer_rows(&db);
    let states: u64 = r.summary.peer_store.as_ref().unwrap().states.values().sum();
    assert!(
        rows.len() as u64 <= states && rows.len() >= 12 * 4,
        "{rows:?}"
    );
    let wrong: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM peers p JOIN meta m ON m.node = (CASE WHEN p.peer_id = 0 THEN 'tracker' ELSE 'peer-' || (p.peer_id - 1) END) WHERE m.uuid != p.uuid",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(wrong, 0);
    let db_summary = &r.summary.peer_store.as_ref().unwrap().database;
    assert_eq!(db_summary.syncs, 6); // ticks 0, 10, ..., 50
    assert_eq!(db_summary.sync_interval_ticks, 10);
}

#[test]
fn the_database_is_byte_identical_across_runs_and_follows_the_seed() {
    let doc = overlay(20, 90, 15);
    let a = run(&doc);
    let b = run(&doc);
    assert_eq!(a.files["peers.sqlite"], b.files["peers.sqlite"]);
    let mut other = doc.clone();
    other["seed"] = json!(2);
    assert_ne!(a.files["peers.sqlite"], run(&other).files["peers.sqlite"]);
}

#[test]
fn a_crashed_node_comes_back_with_what_it_had_synced_and_nothing_more() {
    // Run A: nobody crashes; it ends right after the sync at tick 60.
    let tmp = tempfile::tempdir().unwrap();
    let calm = run(&overlay(16, 61, 20));
    let a = open_db(&calm, tmp.path());
    let synced: BTreeSet<u32> = peer_rows(&a)
        .into_iter()
        .filter(|(n, _)| n == "peer-3")
        .map(|(_, p)| p)
        .collect();
    assert!(!synced.is_empty());
    // Run B: the same until peer-3 crashes at tick 70 (after the sync at 60), down 10 ticks.
    let mut doc = overlay(16, 120, 20);
    doc["nodes"] = json!([
        {"name": "tracker"},
        {"name": "peer", "count": 3},
        {"name": "peer-3", "availability": {"kind": "crash", "at": 70, "restart_after": 10}},
        {"name": "peer-4"}, {"name": "peer-5"}, {"name": "peer-6"}, {"name": "peer-7"},
        {"name": "peer-8"}, {"name": "peer-9"}, {"name": "peer-10"}, {"name": "peer-11"},
        {"name": "peer-12"}, {"name": "peer-13"}, {"name": "peer-14"}, {"name": "peer-15"}
    ]);
    let crashed = run(&doc);
    let restarts = &crashed.summary.peer_store.as_ref().unwrap().restarts;
    assert_eq!((restarts.crashes, restarts.restarts), (1, 1));
    let c = &restarts.each[0];
    assert_eq!(c.node, "peer-3");
    assert_eq!(
        (c.crashed_at, c.restarted_at, c.synced_at),
        (70, Some(80), Some(60))
    );
    assert_eq!(c.remembered, synced.len() as u64);
    assert!(c.known_before >= c.remembered);
    // While down it was not synced; after the restart its stored peers are still there.
    let b = open_db(&crashed, tmp.path());
    let after: BTreeSet<u32> = peer_rows(&b)
        .into_iter()
        .filter(|(n, _)| n == "peer-3")
        .map(|(_, p)| p)
        .collect();
    assert!(synced.is_subset(&after), "{synced:?} {after:?}");
}

#[test]
fn a_crash_before_any_sync_with_peers_forgets_everyone_and_rediscovers() {
    let mut doc = overlay(10, 120, 30);
    doc["nodes"] = json!([
        {"name": "tracker"},
        {"name": "peer", "count": 9},
        {"name": "late", "availability": {"kind": "crash", "at": 20, "restart_after": 5}}
    ]);
    let r = run(&doc);
    let restarts = &r.summary.peer_store.as_ref().unwrap().restarts;
    let c = &restarts.each[0];
    assert_eq!(c.synced_at, Some(0));
    assert!(c.known_before >= 4, "{c:?}");
    assert_eq!(c.remembered, 0);
    assert_eq!(restarts.remembered_ratio, Some(0.0));
    // It finds peers again through the tracker.
    let d = r.summary.discovery.unwrap();
    assert_eq!(d.reached_target, 10, "{d:?}");
}

#[test]
fn a_node_still_down_at_the_end_is_counted_as_a_crash_without_restart() {
    let mut doc = overlay(4, 50, 10);
    doc["nodes"] = json!([
        {"name": "tracker"},
        {"name": "peer", "count": 3},
        {"name": "gone", "availability": {"kind": "crash", "at": 30, "restart_after": 100}}
    ]);
    let r = run(&doc);
    let restarts = &r.summary.peer_store.as_ref().unwrap().restarts;
    assert_eq!((restarts.crashes, restarts.restarts), (1, 0));
    assert_eq!(restarts.each[0].restarted_at, None);
    assert_eq!(restarts.remembered_ratio, None);
}

mod cli {
    use super::*;
    use assert_cmd::Command;
    use predicates::prelude::*;

    fn sim() -> Command {
        Command::cargo_bin("sim").unwrap()
    }

    fn summary(dir: &Path) -> Value {
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap()
    }

    #[test]
    fn peers_from_starts_the_stores_of_an_earlier_run_and_skips_the_warm_up() {
        let tmp = tempfile::tempdir().unwrap();
        let scenario = tmp.path().join("stores.json");
        std::fs::write(&scenario, overlay(12, 60, 10).to_string()).unwrap();
        let first = tmp.path().join("first");
        sim()
            .args(["run", "-q", "--out"])
            .arg(&first)
            .arg(&scenario)
            .assert()
            .success();
        // The working database beside the folder is gone once the run is written.
        let names: Vec<String> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".peers-")), "{names:?}");
        let db = first.join("peers.sqlite");
        // Without a tracker nobody finds anybody ...
        let cold = tmp.path().join("cold");
        sim()
            .args(["run", "-q", "--seed", "2"])
            .args(["--set", "discovery.bootstrappers=[]", "--out"])
            .arg(&cold)
            .arg(&scenario)
            .assert()
            .success();
        assert_eq!(summary(&cold)["discovery"]["verified_peers"]["mean"], 0.0);
        // ... but nodes started from the first run's stores walk to the peers they remember.
        let warm = tmp.path().join("warm");
        sim()
            .args(["run", "-q", "--seed", "2"])
            .args(["--set", "discovery.bootstrappers=[]", "--out"])
            .arg(&warm)
            .arg("--peers-from")
            .arg(&db)
            .arg(&scenario)
            .assert()
            .success();
        let s = summary(&warm);
        assert!(
            s["discovery"]["verified_peers"]["mean"].as_f64().unwrap() >= 4.0,
            "{}",
            s["discovery"]
        );
        let from = &s["peer_store"]["started_from"];
        assert_eq!(from["nodes_loaded"], 13);
        assert_eq!(
            from["sha256"].as_str().unwrap().len(),
            64,
            "the file is identified by its hash"
        );
        // The stores kept their identities (with another seed, fresh stores get other uuids).
        let uuids = |dir: &Path| -> Vec<String> {
            let c = Connection::open(dir.join("peers.sqlite")).unwrap();
            let mut q = c.prepare("SELECT uuid FROM meta ORDER BY node").unwrap();
            q.query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        assert_eq!(uuids(&first), uuids(&warm));
        assert_ne!(uuids(&first), uuids(&cold));
    }

    #[test]
    fn a_peers_from_file_that_does_not_fit_is_refused_and_nothing_is_written() {
        let tmp = tempfile::tempdir().unwrap();
        let scenario = tmp.path().join("stores.json");
        std::fs::write(&scenario, overlay(6, 30, 10).to_string()).unwrap();
        let out = tmp.path().join("out");
        let refuse = |db: &Path, scenario: &Path, expected: &str| {
            sim()
                .args(["run", "--out"])
                .arg(&out)
                .arg("--peers-from")
                .arg(db)
                .arg(scenario)
                .assert()
                .code(2)
                .stderr(predicate::str::contains(db.display().to_string()))
                .stderr(predicate::str::contains(expected));
            assert!(!out.exists());
        };
        // Not a database at all.
        let junk = tmp.path().join("junk.sqlite");
        std::fs::write(&junk, "these are not the pages you are looking for").unwrap();
        refuse(&junk, &scenario, "not a syncsim peer database");
        // Missing.
        refuse(
            &tmp.path().join("missing.sqlite"),
            &scenario,
            "no such file",
        );
        // A database of a scenario with other nodes.
        let other = tmp.path().join("other.json");
        let mut doc = overlay(6, 30, 10);
        doc["nodes"] = json!([{"name": "tracker"}, {"name": "phone", "count": 6}]);
        std::fs::write(&other, doc.to_string()).unwrap();
        let other_out = tmp.path().join("other");
        sim()
            .args(["run", "-q", "--out"])
            .arg(&other_out)
            .arg(&other)
            .assert()
            .success();
        refuse(
            &other_out.join("peers.sqlite"),
            &scenario,
            "unknown node \"phone-0\"",
        );
        // A scenario without peer stores.
        let plain = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/mobile_desktop.json");
        refuse(
            &other_out.join("peers.sqlite"),
            &plain,
            "no `peer_store` section",
        );
    }
}

#[test]
fn a_run_with_crashes_draws_what_was_remembered() {
    let mut doc = overlay(6, 80, 10);
    doc["nodes"] = json!([
        {"name": "tracker"},
        {"name": "peer", "count": 5},
        {"name": "down", "availability": {"kind": "crash", "at": 35, "restart_after": 5}}
    ]);
    let r = syncsim::execute(&parse("stores.json", &doc.to_string(), &[], None).unwrap());
    let png = &r.files["plots/restarts.png"];
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let svg = String::from_utf8(r.files["plots/restarts.svg"].clone()).unwrap();
    assert!(
        svg.contains("down @35"),
        "the crash is labelled by node and tick"
    );
    // Without crashes there is no such plot.
    let calm = syncsim::execute(
        &parse("stores.json", &overlay(6, 80, 10).to_string(), &[], None).unwrap(),
    );
    assert!(!calm.files.contains_key("plots/restarts.png"));
}

#[test]
fn a_run_killed_mid_way_leaves_a_database_that_opens_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/discovery_1000.json");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("sim"))
        .args(["run", "-q", "--out"])
        .arg(&out)
        .arg(&scenario)
        .spawn()
        .unwrap();
    let working = tmp.path().join(format!(".run.peers-{}.sqlite", child.id()));
    // Wait until a few syncs are committed (each one transaction over the 1000 stores).
    let mut synced = 0i64;
    for _ in 0..600 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        if let Ok(db) =
            Connection::open_with_flags(&working, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            && let Ok(n) = db.query_row("SELECT COUNT(*) FROM peers", [], |r| r.get::<_, i64>(0))
            && n > 0
        {
            synced = n;
            break;
        }
    }
    assert!(synced > 0, "no sync was committed in 30 s");
    child.kill().unwrap();
    child.wait().unwrap();
    let db = Connection::open(&working).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let nodes: i64 = db
        .query_row("SELECT COUNT(*) FROM meta", [], |r| r.get(0))
        .unwrap();
    assert_eq!(nodes, 1000, "every store of a committed sync is there");
    let peers: i64 = db
        .query_row("SELECT COUNT(*) FROM peers", [], |r| r.get(0))
        .unwrap();
    assert!(peers >= synced);
    // The run folder was never written.
    assert!(!out.exists());
}

#[test]
fn without_discovery_the_discovered_policy_shares_with_connected_peers_only() {
    let doc = |policy: &str| {
        json!({
            "name": "connected", "duration": 60,
            "nodes": [{"name": "A"}, {"name": "B"}, {"name": "C", "availability": {"kind": "intervals", "spans": [[50, 60]]}}],
            "groups": [{"name": "chat", "members": ["A", "B", "C"], "policy": policy}],
            "links": {"latency": {"kind": "fixed", "delay": 2}},
            "workload": {"appends": [{"node": "A", "tick": 0, "group": "chat", "body": "hi"}]},
            "peer_store": {"hello_deadline": 100}
        })
    };
    let latency = |r: &syncsim::Executed, node: &str| -> Option<u64> {
        let csv = String::from_utf8(r.files["deliveries.csv"].clone()).unwrap();
        csv.lines()
            .skip(1)
            .find(|l| l.starts_with(&format!("{node},")))
            .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
    };
    let members = run(&doc("members"));
    assert_eq!(
        latency(&members, "B"),
        Some(2),
        "sent at once, 2 ticks on the wire"
    );
    // With "discovered": B's hello reaches A at tick 2, which makes B connected for A; only
    // then does A offer the message.
    let connected = run(&doc("discovered"));
    let b = latency(&connected, "B").expect("delivered to B");
    assert!(
        b >= 4,
        "delivered after the hello exchange, got latency {b}"
    );
    // C is offline until 50: A never hears from it before then and does not share with it.
    let sent_to_c: u64 = connected.summary.nodes["C"].packets_received
        + connected.summary.nodes["C"].packets_lost_offline;
    let members_to_c: u64 = members.summary.nodes["C"].packets_received
        + members.summary.nodes["C"].packets_lost_offline;
    assert!(sent_to_c < members_to_c, "{sent_to_c} vs {members_to_c}");
}
