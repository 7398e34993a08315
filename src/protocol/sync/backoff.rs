//! Backoff: when a record may next be sent, after its `n`-th send at tick `now`.

use crate::engine::time::Tick;

/// A backoff policy, in ticks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backoff {
    /// `now + interval` (the seed PoC uses 2).
    Fixed { interval: Tick },
}

impl Backoff {
    /// Next send time after the `send_count`-th send (counting from 1) at tick `now`.
    pub fn next_send_time(&self, send_count: u32, now: Tick) -> Tick {
        debug_assert!(send_count >= 1);
        match *self {
            Backoff::Fixed { interval } => now + interval,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_adds_the_interval_whatever_the_count() {
        let b = Backoff::Fixed { interval: 2 };
        assert_eq!(b.next_send_time(1, 10), 12);
        assert_eq!(b.next_send_time(7, 10), 12);
    }
}
