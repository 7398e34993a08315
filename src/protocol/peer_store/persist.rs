//! Persistence of peer stores in one SQLite database per run, as p2p0mq keeps its store: a meta
//! table (each node's `uuid` and `db_created`) and a peers table (`peer_id`, `uuid`, `host`,
//! `port`), keyed by node. This is the store's disk, not the protocol: the engine decides when to
//! sync (every `peer_store.sync_interval` of simulated time, all nodes in one transaction).
//!
//! A sync of a node: peers found only in the database join memory as `Initial`; peers only in
//! memory are written; peers removed from memory since the last sync (`take_peer`) are deleted,
//! so a removed peer stays removed (the original never deletes, and a removed peer comes back).
//! A node that restarts loads what its store last synced, and nothing more.
//!
//! The database is in WAL mode with `synchronous = NORMAL`: a process killed at any point leaves
//! a file that opens cleanly with every committed sync in it. Rows are written in node and peer
//! order, so the same run gives the same file, byte for byte.
//!
//! Tables (open the file with `sqlite3`):
//! ```sql
//! CREATE TABLE meta  (node TEXT PRIMARY KEY, uuid TEXT NOT NULL, db_created INTEGER NOT NULL);
//! CREATE TABLE peers (node TEXT NOT NULL, peer_id INTEGER NOT NULL, uuid TEXT NOT NULL,
//!                     host TEXT NOT NULL, port INTEGER NOT NULL, PRIMARY KEY (node, peer_id));
//! ```
//! `db_created` is the simulated tick at which the node's store was first synced; `peer_id` is
//! the peer's node index in the scenario.

use super::{PeerState, PeerStore};
use crate::engine::time::Tick;
use crate::ids::NodeId;
use rusqlite::{Connection, OpenFlags, params};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The schema, as created.
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS meta (node TEXT PRIMARY KEY, uuid TEXT NOT NULL, db_created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS peers (node TEXT NOT NULL, peer_id INTEGER NOT NULL, uuid TEXT NOT NULL, host TEXT NOT NULL, port INTEGER NOT NULL, PRIMARY KEY (node, peer_id));";

/// A run's peer database.
pub struct PeerDb {
    conn: Connection,
    /// The peer ids stored for each node this connection has synced, as the file has them: read
    /// from the file at a node's first sync here, then kept by every insert and delete, so that
    /// a sync reads nothing back. Trusted only while `seen` says nothing else wrote the file
    /// since the last sync; forgotten otherwise, and if a sync fails.
    stored: BTreeMap<String, BTreeSet<u32>>,
    /// The file's state as the last sync left it: this connection's `total_changes` after its
    /// commit (a write through this connection outside a sync moves it) and `PRAGMA
    /// data_version` (which moves when another connection commits). `None`: nothing known.
    seen: Option<(u64, i64)>,
}

/// One node's store as stored: its uuid, when it was first synced, and its peers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredNode {
    /// The node's uuid.
    pub uuid: String,
    /// The tick of its first sync.
    pub db_created: Tick,
    /// Its peers: `(peer_id, uuid, host, port)`, by peer_id.
    pub peers: Vec<StoredPeer>,
}

/// One stored peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPeer {
    /// The peer's node index.
    pub peer_id: u32,
    /// Its uuid.
    pub uuid: String,
    /// Its host.
    pub host: String,
    /// Its port.
    pub port: u16,
}

impl StoredPeer {
    /// Adds this peer to `store` as `initial` at `now`.
    fn add_to(&self, store: &mut PeerStore, now: Tick) {
        store.add_peer(
            now,
            NodeId(self.peer_id),
            self.uuid.clone(),
            self.host.clone(),
            self.port,
            false,
        );
    }
}

impl StoredNode {
    /// The store this describes, every peer `Initial` as of `now`.
    pub fn to_store(&self, now: Tick, config: super::PeerStoreConfig) -> PeerStore {
        let mut store = PeerStore::new(self.uuid.clone(), config);
        for p in &self.peers {
            p.add_to(&mut store, now);
        }
        debug_assert!(
            store
                .peers()
                .values()
                .all(|p| p.state == PeerState::Initial)
        );
        store
    }
}

impl PeerDb {
    /// Creates a new, empty database at `path` (an existing file there is replaced), in WAL mode.
    pub fn create(path: &Path) -> rusqlite::Result<Self> {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            let _ = std::fs::remove_file(&p);
        }
        Self::open(path)
    }

    /// Opens (creating if needed) the database at `path`, in WAL mode.
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn,
            stored: BTreeMap::new(),
            seen: None,
        })
    }

    /// Syncs the stores of `nodes` (key, name, store) at `now`, all in one transaction (see the
    /// module docs). Each store's peers removed since its last sync are deleted. Returns the keys
    /// of the stores that gained peers from the file.
    pub fn sync_all<'a, K>(
        &mut self,
        now: Tick,
        nodes: impl IntoIterator<Item = (K, &'a str, &'a mut PeerStore)>,
    ) -> rusqlite::Result<Vec<K>> {
        let Self { conn, stored, seen } = self;
        let result = (|| {
            let version: i64 = conn.pragma_query_value(None, "data_version", |r| r.get(0))?;
            if *seen != Some((conn.total_changes(), version)) {
                // Written by someone else since the last sync (or never synced): read it anew.
                stored.clear();
            }
            let tx = conn.transaction()?;
            let mut gained = Vec::new();
            for (key, node, store) in nodes {
                let ids = match stored.get_mut(node) {
                    Some(ids) => ids,
                    None => {
                        let ids = read_peer_ids(&tx, node)?.into_iter().collect();
                        stored.entry(node.to_string()).or_insert(ids)
                    }
                };
                if sync_one(&tx, node, now, store, ids)? {
                    gained.push(key);
                }
            }
            tx.commit()?;
            // This connection's own commits do not move its `data_version`.
            Ok((gained, (conn.total_changes(), version)))
        })();
        match result {
            Ok((gained, now_seen)) => {
                *seen = Some(now_seen);
                Ok(gained)
            }
            Err(e) => {
                // The transaction rolled back: what the file holds is no longer known here.
                stored.clear();
                *seen = None;
                Err(e)
            }
        }
    }

    /// Syncs one node's store at `now` in its own transaction.
    pub fn sync(&mut self, node: &str, now: Tick, store: &mut PeerStore) -> rusqlite::Result<()> {
        self.sync_all(now, [((), node, store)]).map(drop)
    }

    /// A node's store as last synced (all peers `Initial`), or `None` if it was never synced.
    pub fn load(
        &self,
        node: &str,
        now: Tick,
        config: super::PeerStoreConfig,
    ) -> rusqlite::Result<Option<PeerStore>> {
        Ok(read_node(&self.conn, node)?.map(|n| n.to_store(now, config)))
    }

    /// Closes the database, checkpointing the WAL into the main file (which the `-wal` and
    /// `-shm` files then leave).
    pub fn close(self) -> rusqlite::Result<()> {
        self.conn.close().map_err(|(_, e)| e)
    }
}

/// Syncs one store, whose peer ids in the file are `stored` (kept up to date here); true if it
/// gained peers found only in the file.
fn sync_one(
    tx: &rusqlite::Transaction<'_>,
    node: &str,
    now: Tick,
    store: &mut PeerStore,
    stored: &mut BTreeSet<u32>,
) -> rusqlite::Result<bool> {
    tx.prepare_cached("INSERT OR IGNORE INTO meta (node, uuid, db_created) VALUES (?1, ?2, ?3)")?
        .execute(params![node, store.uuid(), now as i64])?;
    for r in store.take_removed() {
        tx.prepare_cached("DELETE FROM peers WHERE node = ?1 AND peer_id = ?2")?
            .execute(params![node, r.0])?;
        stored.remove(&r.0);
    }
    // Peers only in the file join memory (their strings read then); after a node's first sync
    // there are none unless something else wrote the file, since each sync writes what memory
    // has.
    let only_in_file: Vec<u32> = stored
        .iter()
        .copied()
        .filter(|&id| store.peer(NodeId(id)).is_none())
        .collect();
    for &id in &only_in_file {
        read_peer(tx, node, id)?.add_to(store, now);
    }
    let mut insert = tx.prepare_cached(
        "INSERT INTO peers (node, peer_id, uuid, host, port) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (n, p) in store.peers() {
        if !stored.contains(&n.0) {
            insert.execute(params![node, n.0, p.uuid, p.host, p.port])?;
            stored.insert(n.0);
        }
    }
    Ok(!only_in_file.is_empty())
}

/// The ids of a node's stored peers, in order.
fn read_peer_ids(conn: &Connection, node: &str) -> rusqlite::Result<Vec<u32>> {
    let mut q =
        conn.prepare_cached("SELECT peer_id FROM peers WHERE node = ?1 ORDER BY peer_id")?;
    q.query_map(params![node], |row| row.get(0))?.collect()
}

/// One stored peer of a node.
fn read_peer(conn: &Connection, node: &str, peer_id: u32) -> rusqlite::Result<StoredPeer> {
    conn.prepare_cached(
        "SELECT peer_id, uuid, host, port FROM peers WHERE node = ?1 AND peer_id = ?2",
    )?
    .query_row(params![node, peer_id], stored_peer)
}

/// A `SELECT peer_id, uuid, host, port` row.
fn stored_peer(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredPeer> {
    Ok(StoredPeer {
        peer_id: row.get(0)?,
        uuid: row.get(1)?,
        host: row.get(2)?,
        port: row.get(3)?,
    })
}

fn read_peers(conn: &Connection, node: &str) -> rusqlite::Result<Vec<StoredPeer>> {
    let mut q = conn.prepare_cached(
        "SELECT peer_id, uuid, host, port FROM peers WHERE node = ?1 ORDER BY peer_id",
    )?;
    q.query_map(params![node], stored_peer)?.collect()
}

fn read_node(conn: &Connection, node: &str) -> rusqlite::Result<Option<StoredNode>> {
    let meta = conn
        .prepare_cached("SELECT uuid, db_created FROM meta WHERE node = ?1")?
        .query_row(params![node], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        });
    let (uuid, created) = match meta {
        Ok(m) => m,
        Err(rusqlite::Error::QueryReturnedNoRows) => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(Some(StoredNode {
        uuid,
        db_created: created.max(0) as Tick,
        peers: read_peers(conn, node)?,
    }))
}

/// Reads every node's store from the database at `path` (opened read-only), by node name, for
/// `sim run --peers-from`. The error says what is wrong with the file.
pub fn read_all(path: &Path) -> Result<BTreeMap<String, StoredNode>, String> {
    if !path.is_file() {
        return Err("no such file (expected the peers.sqlite of an earlier run)".into());
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("cannot open as SQLite: {e}"))?;
    let names: Vec<String> = (|| {
        let mut q = conn.prepare("SELECT node FROM meta ORDER BY node")?;
        q.query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<String>>>()
    })()
    .map_err(|e: rusqlite::Error| {
        format!("not a syncsim peer database (expected tables meta and peers): {e}")
    })?;
    let mut out = BTreeMap::new();
    for name in names {
        let node = read_node(&conn, &name).map_err(|e| {
            format!("not a syncsim peer database (expected tables meta and peers): {e}")
        })?;
        if let Some(node) = node {
            out.insert(name, node);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::peer_store::{PeerStoreConfig, seed_timings};

    fn config() -> PeerStoreConfig {
        seed_timings()
    }

    #[test]
    fn write_reload_and_delete_stays_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peers.sqlite");
        let mut db = PeerDb::open(&path).unwrap();
        let mut a = PeerStore::new("a-uuid".into(), config());
        a.add_peer(0, NodeId(1), "b".into(), "10.0.0.2".into(), 4000, false);
        a.add_peer(0, NodeId(2), "c".into(), "10.0.0.3".into(), 4001, false);
        db.sync("A", 10, &mut a).unwrap();
        // Reloaded (a crash and restart): what was synced, all initial.
        let back = db.load("A", 50, config()).unwrap().unwrap();
        assert_eq!(back.uuid(), "a-uuid");
        assert_eq!(back.peers_in(PeerState::Initial), [NodeId(1), NodeId(2)]);
        assert_eq!(back.peer(NodeId(2)).unwrap().port, 4001);
        // Remove C, sync: it is deleted from disk and does not come back on the next sync.
        a.take_peer(NodeId(2));
        db.sync("A", 20, &mut a).unwrap();
        db.sync("A", 30, &mut a).unwrap();
        assert!(a.peer(NodeId(2)).is_none());
        assert_eq!(
            db.load("A", 60, config()).unwrap().unwrap().peers().len(),
            1
        );
        // Peers added to the database by someone else join memory as initial.
        db.conn
            .execute(
                "INSERT INTO peers VALUES ('A', 7, 'h', '10.0.0.8', 4007)",
                [],
            )
            .unwrap();
        db.sync("A", 40, &mut a).unwrap();
        assert_eq!(a.peer(NodeId(7)).unwrap().state, PeerState::Initial);
        // So do peers another connection (another process) committed between two syncs.
        let other = Connection::open(&path).unwrap();
        other
            .execute(
                "INSERT INTO peers VALUES ('A', 9, 'i', '10.0.0.10', 4009)",
                [],
            )
            .unwrap();
        drop(other);
        db.sync("A", 45, &mut a).unwrap();
        assert_eq!(a.peer(NodeId(9)).unwrap().port, 4009);
        // And removing it again deletes it from the file (the sync's own rows stay known).
        a.take_peer(NodeId(9));
        db.sync("A", 46, &mut a).unwrap();
        db.sync("A", 47, &mut a).unwrap();
        assert!(a.peer(NodeId(9)).is_none());
        // db_created is the first sync.
        let created: i64 = db
            .conn
            .query_row("SELECT db_created FROM meta WHERE node = 'A'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(created, 10);
        // A node never synced has nothing to reload.
        assert!(db.load("B", 0, config()).unwrap().is_none());
        drop(db);
        // The file opens again with its tables.
        let again = PeerDb::open(&path).unwrap();
        let n: i64 = again
            .conn
            .query_row("SELECT COUNT(*) FROM peers", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
    }
}
