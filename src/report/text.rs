//! Fast text for the large data files (`deliveries.csv`, the sync-state tables): hex and
//! decimal digits appended to a `String` without the formatting machinery, and every message id
//! in hex made once per run instead of once per row. The text is exactly what `{:02x}` and `{}`
//! would write.

use crate::engine::RunOutput;
use crate::ids::MsgRef;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends the lower-case hex digits of `bytes`.
pub fn push_hex(s: &mut String, bytes: &[u8]) {
    s.reserve(bytes.len() * 2);
    for &b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
}

/// Appends `x` in decimal.
pub fn push_u64(s: &mut String, mut x: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (x % 10) as u8;
        x /= 10;
        if x == 0 {
            break;
        }
    }
    s.extend(buf[i..].iter().map(|&d| d as char));
}

/// Every message id of a run in hex (64 digits), by [`MsgRef`].
pub struct MessageIds(Vec<String>);

impl MessageIds {
    /// The ids of `run`'s messages.
    pub fn of(run: &RunOutput) -> Self {
        Self::of_messages(&run.messages)
    }

    /// The ids of `messages`, indexed as they are.
    pub fn of_messages(messages: &[crate::engine::MessageInfo]) -> Self {
        Self(
            messages
                .iter()
                .map(|m| {
                    let mut s = String::with_capacity(64);
                    push_hex(&mut s, &m.id);
                    s
                })
                .collect(),
        )
    }

    /// The full id of `msg` (64 hex digits).
    pub fn full(&self, msg: MsgRef) -> &str {
        &self.0[msg.idx()]
    }

    /// The first 8 hex digits of `msg`'s id (the tables' short form).
    pub fn short(&self, msg: MsgRef) -> &str {
        &self.0[msg.idx()][..8]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;

    #[test]
    fn digits_are_those_of_the_formatter() {
        for x in [0, 1, 9, 10, 99, 100, 12345, u32::MAX as u64, u64::MAX] {
            let mut s = String::from("x");
            push_u64(&mut s, x);
            assert_eq!(s, format!("x{x}"));
        }
        let bytes: Vec<u8> = (0..=255).collect();
        let mut s = String::new();
        push_hex(&mut s, &bytes);
        let mut expected = String::new();
        for b in &bytes {
            let _ = write!(expected, "{b:02x}");
        }
        assert_eq!(s, expected);
    }
}
