//! Simulated time.
//!
//! Time is an integer number of ticks since the start of the run (tick 0). How long a tick is
//! in wall-clock terms is the scenario's `tick_ms`; only reports convert ticks to seconds.
//! Nothing in the simulator reads a real clock to decide what happens.

/// A point in simulated time, or a span of it, in ticks.
pub type Tick = u64;

/// Rounds `x` up to the next multiple of `step` (`step >= 1`).
#[inline]
pub fn align_up(x: Tick, step: Tick) -> Tick {
    debug_assert!(step >= 1);
    x.div_ceil(step) * step
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn align_up_rounds_to_the_next_multiple() {
        assert_eq!(align_up(0, 3), 0);
        assert_eq!(align_up(1, 3), 3);
        assert_eq!(align_up(3, 3), 3);
        assert_eq!(align_up(7, 1), 7);
    }
}
