//! Persistence of peer stores in one SQLite database per run, as p2p0mq keeps its store: a meta
//! table (each node's `uuid` and `db_created`) and a peers table (`peer_id`, `uuid`, `host`,
//! `port`), keyed by node. This is the store's disk, not the protocol: the engine decides when to
//! sync.
//!
//! A sync, in one transaction: peers found only in the database join memory as `Initial`; peers
//! only in memory are written; peers removed from memory since the last sync (`take_peer`) are
//! deleted, so a removed peer stays removed (the original never deletes, and a removed peer comes
//! back). A node that restarts loads what its store last synced, and nothing more.
//!
//! Tables (open the file with `sqlite3`):
//! ```sql
//! CREATE TABLE meta  (node TEXT PRIMARY KEY, uuid TEXT NOT NULL, db_created INTEGER NOT NULL);
//! CREATE TABLE peers (node TEXT NOT NULL, peer_id INTEGER NOT NULL, uuid TEXT NOT NULL,
//!                     host TEXT NOT NULL, port INTEGER NOT NULL, PRIMARY KEY (node, peer_id));
//! ```
//! `db_created` is the simulated tick at which the node's store was first synced; `peer_id` is
//! the peer's node index.

use super::{PeerState, PeerStore};
use crate::engine::time::Tick;
use crate::ids::NodeId;
use rusqlite::{Connection, params};
use std::collections::BTreeSet;
use std::path::Path;

/// A run's peer database.
pub struct PeerDb {
    conn: Connection,
}

impl PeerDb {
    /// Opens (creating if needed) the database at `path`, in WAL mode.
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (node TEXT PRIMARY KEY, uuid TEXT NOT NULL, db_created INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS peers (node TEXT NOT NULL, peer_id INTEGER NOT NULL, uuid TEXT NOT NULL,
                                               host TEXT NOT NULL, port INTEGER NOT NULL, PRIMARY KEY (node, peer_id));",
        )?;
        Ok(Self { conn })
    }

    /// Syncs `store` of node `node` at `now` in one transaction (see the module docs);
    /// `removed` are the peers taken out of memory since the last sync.
    pub fn sync(
        &mut self,
        node: &str,
        now: Tick,
        store: &mut PeerStore,
        removed: &BTreeSet<NodeId>,
    ) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT OR IGNORE INTO meta (node, uuid, db_created) VALUES (?1, ?2, ?3)",
            params![node, store.uuid(), now as i64],
        )?;
        for r in removed {
            tx.execute(
                "DELETE FROM peers WHERE node = ?1 AND peer_id = ?2",
                params![node, r.0],
            )?;
        }
        let stored: Vec<(u32, String, String, u16)> = {
            let mut q = tx.prepare(
                "SELECT peer_id, uuid, host, port FROM peers WHERE node = ?1 ORDER BY peer_id",
            )?;
            q.query_map(params![node], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })?
            .collect::<Result<_, _>>()?
        };
        for (id, uuid, host, port) in &stored {
            if store.peer(NodeId(*id)).is_none() {
                store.add_peer(now, NodeId(*id), uuid.clone(), host.clone(), *port, false);
            }
        }
        let have: BTreeSet<u32> = stored.iter().map(|s| s.0).collect();
        for (n, p) in store.peers() {
            if !have.contains(&n.0) {
                tx.execute("INSERT INTO peers (node, peer_id, uuid, host, port) VALUES (?1, ?2, ?3, ?4, ?5)", params![node, n.0, p.uuid, p.host, p.port])?;
            }
        }
        tx.commit()
    }

    /// A node's store as last synced (all peers `Initial`), or `None` if it was never synced.
    pub fn load(
        &self,
        node: &str,
        now: Tick,
        config: super::PeerStoreConfig,
    ) -> rusqlite::Result<Option<PeerStore>> {
        let uuid: Option<String> = self
            .conn
            .query_row(
                "SELECT uuid FROM meta WHERE node = ?1",
                params![node],
                |r| r.get(0),
            )
            .map(Some)
            .or_else(|e| {
                if e == rusqlite::Error::QueryReturnedNoRows {
                    Ok(None)
                } else {
                    Err(e)
                }
            })?;
        let Some(uuid) = uuid else { return Ok(None) };
        let mut store = PeerStore::new(uuid, config);
        let mut q = self.conn.prepare(
            "SELECT peer_id, uuid, host, port FROM peers WHERE node = ?1 ORDER BY peer_id",
        )?;
        let rows = q.query_map(params![node], |row| {
            Ok((
                row.get::<_, u32>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, u16>(3)?,
            ))
        })?;
        for r in rows {
            let (id, u, host, port) = r?;
            store.add_peer(now, NodeId(id), u, host, port, false);
        }
        debug_assert!(
            store
                .peers()
                .values()
                .all(|p| p.state == PeerState::Initial)
        );
        Ok(Some(store))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::peer_store::PeerStoreConfig;

    fn config() -> PeerStoreConfig {
        PeerStoreConfig {
            hello_deadline: 40,
            retry_after: 120,
            heartbeat: 4,
            heartbeat_step: 2,
            heartbeat_max_extra: 10,
            unreachable_after: 40,
            no_connection_after: 240,
        }
    }

    #[test]
    fn write_reload_and_delete_stays_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peers.sqlite");
        let mut db = PeerDb::open(&path).unwrap();
        let mut a = PeerStore::new("a-uuid".into(), config());
        a.add_peer(0, NodeId(1), "b".into(), "10.0.0.2".into(), 4000, false);
        a.add_peer(0, NodeId(2), "c".into(), "10.0.0.3".into(), 4001, false);
        db.sync("A", 10, &mut a, &BTreeSet::new()).unwrap();
        // Reloaded (a crash and restart): what was synced, all initial.
        let back = db.load("A", 50, config()).unwrap().unwrap();
        assert_eq!(back.uuid(), "a-uuid");
        assert_eq!(back.peers_in(PeerState::Initial), [NodeId(1), NodeId(2)]);
        assert_eq!(back.peer(NodeId(2)).unwrap().port, 4001);
        // Remove C, sync: it is deleted from disk and does not come back on the next sync.
        a.take_peer(NodeId(2));
        db.sync("A", 20, &mut a, &BTreeSet::from([NodeId(2)]))
            .unwrap();
        db.sync("A", 30, &mut a, &BTreeSet::new()).unwrap();
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
        db.sync("A", 40, &mut a, &BTreeSet::new()).unwrap();
        assert_eq!(a.peer(NodeId(7)).unwrap().state, PeerState::Initial);
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
