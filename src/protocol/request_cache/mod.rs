//! IPv8's RequestCache, sans-IO: numbered caches that hold the state of a message flow, each
//! with a timeout, which also stop replayed responses.
//!
//! Rules (PROTOCOLS.md §2), each with a unit test:
//! - A cache is keyed `"{prefix}:{number}"`. Adding a key that exists is refused (and counted);
//!   after [`RequestCache::shutdown`] every add is refused.
//! - [`RequestCache::add_random`] (IPv8's `RandomNumberCache`) draws the number uniformly from
//!   `0..65536` from the node's stream, up to 1000 draws to find a free one, then fails.
//! - Every cache has a timeout (IPv8's default 10 s, converted to ticks by the caller). On
//!   timeout the key is removed **first**, then the expired state is handed back for the
//!   caller's `on_timeout`, which may therefore add a cache with the same number.
//! - [`RequestCache::pop`] of a missing key is an error the caller sees; [`RequestCache::get`]
//!   and [`RequestCache::has`] answer absent.
//! - [`RequestCache::shutdown`] cancels all timers **without** handing back any state.
//!
//! Time is given by the caller: [`RequestCache::poll_timeout`] tells the earliest deadline,
//! [`RequestCache::handle_timeout`] expires everything due at `now`.

use crate::engine::rng::{self, Stream};
use crate::engine::time::Tick;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

/// How many random numbers `add_random` tries before giving up (IPv8's limit).
pub const RANDOM_DRAWS: usize = 1000;

/// Why an add was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddError {
    /// The key exists already.
    #[error("a cache with this prefix and number exists")]
    Exists,
    /// No free random number was found in [`RANDOM_DRAWS`] draws.
    #[error("no free random number in {RANDOM_DRAWS} draws")]
    NoFreeNumber,
    /// The cache is shut down.
    #[error("the request cache is shut down")]
    ShutDown,
}

/// `pop` of a key that is not there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no cache with this prefix and number")]
pub struct Missing;

/// A cache that timed out, handed back for `on_timeout`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expired<T> {
    /// Its prefix.
    pub prefix: &'static str,
    /// Its number.
    pub number: u32,
    /// Its state.
    pub state: T,
}

/// Counters of a request cache.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Caches added.
    pub added: u64,
    /// Adds refused because the key existed (or no free random number was found).
    pub refused_exists: u64,
    /// Adds refused after shutdown.
    pub refused_shutdown: u64,
    /// Caches that timed out.
    pub timed_out: u64,
    /// Caches popped.
    pub popped: u64,
    /// Pops of missing keys.
    pub missing_pops: u64,
}

struct Entry<T> {
    state: T,
    deadline: Tick,
    generation: u64,
}

/// A request cache holding states of type `T`.
pub struct RequestCache<T> {
    caches: BTreeMap<(&'static str, u32), Entry<T>>,
    timers: BinaryHeap<Reverse<(Tick, u64, &'static str, u32)>>,
    generation: u64,
    shut_down: bool,
    stats: CacheStats,
}

impl<T> Default for RequestCache<T> {
    fn default() -> Self {
        Self {
            caches: BTreeMap::new(),
            timers: BinaryHeap::new(),
            generation: 0,
            shut_down: false,
            stats: CacheStats::default(),
        }
    }
}

impl<T> RequestCache<T> {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The key of a cache, as IPv8 writes it.
    pub fn key(prefix: &str, number: u32) -> String {
        format!("{prefix}:{number}")
    }

    /// Adds a cache `prefix:number` holding `state`, timing out at `now + timeout`.
    pub fn add(
        &mut self,
        now: Tick,
        prefix: &'static str,
        number: u32,
        timeout: Tick,
        state: T,
    ) -> Result<(), AddError> {
        if self.shut_down {
            self.stats.refused_shutdown += 1;
            return Err(AddError::ShutDown);
        }
        if self.caches.contains_key(&(prefix, number)) {
            self.stats.refused_exists += 1;
            return Err(AddError::Exists);
        }
        self.generation += 1;
        let deadline = now.saturating_add(timeout);
        self.caches.insert(
            (prefix, number),
            Entry {
                state,
                deadline,
                generation: self.generation,
            },
        );
        self.timers
            .push(Reverse((deadline, self.generation, prefix, number)));
        self.stats.added += 1;
        Ok(())
    }

    /// Adds a cache under a random free number of `0..65536` drawn from `rng` (IPv8's
    /// `RandomNumberCache`); returns the number.
    pub fn add_random(
        &mut self,
        now: Tick,
        prefix: &'static str,
        timeout: Tick,
        state: T,
        rng: &mut Stream,
    ) -> Result<u32, AddError> {
        if self.shut_down {
            self.stats.refused_shutdown += 1;
            return Err(AddError::ShutDown);
        }
        for _ in 0..RANDOM_DRAWS {
            let number = rng::uniform_inclusive(rng, 0, 65535) as u32;
            if !self.caches.contains_key(&(prefix, number)) {
                self.add(now, prefix, number, timeout, state)?;
                return Ok(number);
            }
        }
        self.stats.refused_exists += 1;
        Err(AddError::NoFreeNumber)
    }

    /// Whether `prefix:number` exists.
    pub fn has(&self, prefix: &'static str, number: u32) -> bool {
        self.caches.contains_key(&(prefix, number))
    }

    /// The state of `prefix:number`, if it exists.
    pub fn get(&self, prefix: &'static str, number: u32) -> Option<&T> {
        self.caches.get(&(prefix, number)).map(|e| &e.state)
    }

    /// Removes `prefix:number` and returns its state; its timer is cancelled.
    pub fn pop(&mut self, prefix: &'static str, number: u32) -> Result<T, Missing> {
        match self.caches.remove(&(prefix, number)) {
            Some(e) => {
                self.stats.popped += 1;
                Ok(e.state)
            }
            None => {
                self.stats.missing_pops += 1;
                Err(Missing)
            }
        }
    }

    /// Number of live caches.
    pub fn len(&self) -> usize {
        self.caches.len()
    }

    /// Whether no cache is live.
    pub fn is_empty(&self) -> bool {
        self.caches.is_empty()
    }

    /// Whether the cache is shut down.
    pub fn is_shut_down(&self) -> bool {
        self.shut_down
    }

    /// The counters.
    pub fn stats(&self) -> &CacheStats {
        &self.stats
    }

    fn live(
        &self,
        &(deadline, generation, prefix, number): &(Tick, u64, &'static str, u32),
    ) -> bool {
        self.caches
            .get(&(prefix, number))
            .is_some_and(|e| e.deadline == deadline && e.generation == generation)
    }

    /// The earliest deadline of a live cache.
    pub fn poll_timeout(&mut self) -> Option<Tick> {
        while let Some(Reverse(t)) = self.timers.peek() {
            if self.live(t) {
                return Some(t.0);
            }
            self.timers.pop();
        }
        None
    }

    /// Expires every cache whose deadline is at or before `now`, in deadline order: each is
    /// removed first, then handed back for the caller's `on_timeout`.
    pub fn handle_timeout(&mut self, now: Tick) -> Vec<Expired<T>> {
        let mut out = Vec::new();
        while let Some(&Reverse(t)) = self.timers.peek() {
            if t.0 > now {
                break;
            }
            self.timers.pop();
            if !self.live(&t) {
                continue;
            }
            let (_, _, prefix, number) = t;
            let e = self.caches.remove(&(prefix, number)).expect("live");
            self.stats.timed_out += 1;
            out.push(Expired {
                prefix,
                number,
                state: e.state,
            });
        }
        out
    }

    /// Shuts down: every cache and timer is dropped without `on_timeout`; later adds are refused.
    pub fn shutdown(&mut self) {
        self.shut_down = true;
        self.caches.clear();
        self.timers.clear();
    }
}

#[cfg(test)]
mod tests;
