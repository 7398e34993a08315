//! One test per rule of PROTOCOLS.md §2.

use super::*;
use crate::engine::rng::stream;

#[test]
fn keys_are_prefix_colon_number() {
    assert_eq!(RequestCache::<()>::key("my-state", 0), "my-state:0");
}

#[test]
fn adding_an_existing_key_is_refused_and_counted() {
    let mut c = RequestCache::new();
    assert_eq!(c.add(0, "my-state", 0, 10, 42), Ok(()));
    assert_eq!(c.add(1, "my-state", 0, 10, 43), Err(AddError::Exists));
    assert_eq!(c.get("my-state", 0), Some(&42));
    assert_eq!(c.stats().refused_exists, 1);
    // Another prefix with the same number is another key.
    assert_eq!(c.add(1, "other", 0, 10, 1), Ok(()));
}

#[test]
fn random_numbers_are_in_range_distinct_and_drawn_from_the_stream() {
    let mut c = RequestCache::new();
    let mut rng = stream(1, "node/A/request_cache");
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..2000 {
        let n = c.add_random(0, "my-cache", 10, i, &mut rng).unwrap();
        assert!(n < 65536);
        assert!(seen.insert(n), "number {n} handed out twice");
    }
    // The number is the node stream's next uniform draw from 0..65536.
    let mut fresh = RequestCache::new();
    let first = fresh
        .add_random(0, "my-cache", 10, 0, &mut stream(9, "s"))
        .unwrap();
    assert_eq!(
        first as u64,
        crate::engine::rng::uniform_inclusive(&mut stream(9, "s"), 0, 65535)
    );
}

#[test]
fn add_random_gives_up_after_1000_draws() {
    let mut c = RequestCache::new();
    for n in 0..65536u32 {
        c.add(0, "full", n, 10, ()).unwrap();
    }
    let mut rng = stream(1, "x");
    assert_eq!(
        c.add_random(0, "full", 10, (), &mut rng),
        Err(AddError::NoFreeNumber)
    );
    // Exactly 1000 draws were made.
    let mut reference = stream(1, "x");
    for _ in 0..RANDOM_DRAWS {
        crate::engine::rng::uniform_inclusive(&mut reference, 0, 65535);
    }
    assert_eq!(
        crate::engine::rng::uniform_inclusive(&mut rng, 0, 65535),
        crate::engine::rng::uniform_inclusive(&mut reference, 0, 65535)
    );
}

#[test]
fn timeouts_fire_at_their_tick_and_remove_the_key_first() {
    let mut c = RequestCache::new();
    c.add(5, "my-state", 0, 10, "a").unwrap();
    c.add(6, "my-state", 1, 3, "b").unwrap();
    assert_eq!(c.poll_timeout(), Some(9));
    assert_eq!(c.handle_timeout(8), []);
    let expired = c.handle_timeout(9);
    assert_eq!(
        expired,
        [Expired {
            prefix: "my-state",
            number: 1,
            state: "b"
        }]
    );
    assert!(!c.has("my-state", 1), "removed before on_timeout runs");
    // on_timeout may add a cache with the same number at once.
    assert_eq!(c.add(9, "my-state", 1, 3, "b2"), Ok(()));
    assert_eq!(c.poll_timeout(), Some(12));
    assert_eq!(c.handle_timeout(15).len(), 2);
    assert_eq!(c.stats().timed_out, 3);
}

#[test]
fn pop_of_a_missing_key_is_an_error_get_and_has_answer_absent() {
    let mut c: RequestCache<u32> = RequestCache::new();
    assert_eq!(c.pop("my-state", 7), Err(Missing));
    assert_eq!(c.get("my-state", 7), None);
    assert!(!c.has("my-state", 7));
    c.add(0, "my-state", 7, 10, 1).unwrap();
    assert_eq!(c.pop("my-state", 7), Ok(1));
    assert_eq!(c.pop("my-state", 7), Err(Missing));
    // A popped cache never times out.
    assert_eq!(c.poll_timeout(), None);
    assert_eq!(c.handle_timeout(100), []);
    assert_eq!(c.stats().missing_pops, 2);
}

#[test]
fn shutdown_cancels_timers_without_on_timeout_and_refuses_adds() {
    let mut c = RequestCache::new();
    c.add(0, "my-state", 0, 10, ()).unwrap();
    c.shutdown();
    assert_eq!(c.poll_timeout(), None);
    assert_eq!(c.handle_timeout(1000), []);
    assert_eq!(c.stats().timed_out, 0);
    assert_eq!(c.add(1, "my-state", 1, 10, ()), Err(AddError::ShutDown));
    let mut rng = stream(1, "x");
    assert_eq!(
        c.add_random(1, "my-state", 10, (), &mut rng),
        Err(AddError::ShutDown)
    );
    assert_eq!(c.stats().refused_shutdown, 2);
}
