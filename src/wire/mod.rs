//! The wire: the 2/MVDS protobuf types (generated from `proto/mvds.proto` by prost) and the
//! encoded sizes of the packets the protocol sends.
//!
//! Protocol code never sees these types; it works with [`crate::protocol::sync::Packet`]. The
//! simulator does not build a `Payload` for every packet it moves: it computes the size that
//! the real encoding would have from the encoded size of each message (measured once, with
//! prost, when the message is appended) and protobuf's length rules. The tests here encode real
//! `Payload`s and check that both agree byte for byte.

use prost::Message as _;
use prost::encoding::{encoded_len_varint, key_len};
use sha2::{Digest, Sha256};

/// Types generated from `proto/mvds.proto` (package `vac.mvds`).
pub mod mvds {
    include!(concat!(env!("OUT_DIR"), "/vac.mvds.rs"));
}

/// Types generated from `proto/rpc.proto` (package `syncsim.rpc`).
pub mod rpc {
    include!(concat!(env!("OUT_DIR"), "/syncsim.rpc.rs"));
}

/// Encoded size of a request/response message, measured by prost.
pub fn rpc_len(msg: &crate::protocol::rpc::RpcMessage) -> usize {
    match *msg {
        crate::protocol::rpc::RpcMessage::Request { value, identifier } => {
            rpc::Request { value, identifier }.encoded_len()
        }
        crate::protocol::rpc::RpcMessage::Response { value, identifier } => {
            rpc::Response { value, identifier }.encoded_len()
        }
    }
}

/// Types generated from `proto/discovery.proto` (package `syncsim.discovery`).
pub mod discovery {
    include!(concat!(env!("OUT_DIR"), "/syncsim.discovery.rs"));
}

/// Encoded size of a discovery message (its `Envelope`), measured by prost.
pub fn discovery_len(msg: &crate::protocol::discovery::DiscoveryMessage) -> usize {
    use crate::protocol::discovery::DiscoveryMessage as M;
    use discovery::envelope::Message as E;
    let message = match *msg {
        M::IntroductionRequest => E::IntroductionRequest(discovery::IntroductionRequest {}),
        M::IntroductionResponse { introduced } => {
            E::IntroductionResponse(discovery::IntroductionResponse {
                introduced: introduced.map(|n| n.0),
            })
        }
        M::PunctureRequest { target } => {
            E::PunctureRequest(discovery::PunctureRequest { target: target.0 })
        }
        M::Puncture => E::Puncture(discovery::Puncture {}),
        M::Ping { identifier } => E::Ping(discovery::Ping { identifier }),
        M::Pong { identifier } => E::Pong(discovery::Pong { identifier }),
    };
    discovery::Envelope {
        message: Some(message),
    }
    .encoded_len()
}

/// Types generated from `proto/peer.proto` (package `syncsim.peer`).
pub mod peer {
    include!(concat!(env!("OUT_DIR"), "/syncsim.peer.rs"));
}

/// Encoded size of a peer-store message carrying the sender's `uuid`, measured by prost.
pub fn peer_len(msg: crate::protocol::peer_store::PeerMessage, uuid: &str) -> usize {
    use crate::protocol::peer_store::PeerMessage as M;
    use peer::envelope::Message as E;
    let message = match msg {
        M::Hello => E::Hello(uuid.as_bytes().to_vec()),
        M::HelloReply => E::HelloReply(uuid.as_bytes().to_vec()),
        M::Heartbeat => E::Heartbeat(true),
        M::HeartbeatReply => E::HeartbeatReply(true),
    };
    peer::Envelope {
        message: Some(message),
    }
    .encoded_len()
}

/// Length of a message id (SHA-256) and of a group id, in bytes.
pub const ID_LEN: usize = 32;

/// Field numbers of `Payload`.
const PAYLOAD_ACKS: u32 = 5001;
const PAYLOAD_OFFERS: u32 = 5002;
const PAYLOAD_REQUESTS: u32 = 5003;
const PAYLOAD_MESSAGES: u32 = 5004;

/// A group id: SHA-256 of the group's name, as the spec's 32-byte group ids.
pub fn group_id(name: &str) -> [u8; ID_LEN] {
    let mut h = Sha256::new();
    h.update(b"GROUP_ID");
    h.update(name.as_bytes());
    h.finalize().into()
}

/// `SHA-256("MESSAGE_ID" || group_id || u64_le(timestamp) || body)`, the Go implementation's rule.
pub fn message_id(group_id: &[u8; ID_LEN], timestamp: u64, body: &[u8]) -> [u8; ID_LEN] {
    let mut h = Sha256::new();
    h.update(b"MESSAGE_ID");
    h.update(group_id);
    h.update(timestamp.to_le_bytes());
    h.update(body);
    h.finalize().into()
}

/// The wire form of a message with no metadata.
pub fn message(group_id: &[u8; ID_LEN], timestamp: u64, body: &[u8]) -> mvds::Message {
    message_with(group_id, timestamp, body, &[], false)
}

/// The wire form of a message with parents and the ephemeral flag (metadata present only when
/// one of them is set).
pub fn message_with(
    group_id: &[u8; ID_LEN],
    timestamp: u64,
    body: &[u8],
    parents: &[[u8; ID_LEN]],
    ephemeral: bool,
) -> mvds::Message {
    let metadata = (ephemeral || !parents.is_empty()).then(|| mvds::Metadata {
        parents: parents.iter().map(|p| p.to_vec()).collect(),
        ephemeral,
    });
    mvds::Message {
        group_id: group_id.to_vec(),
        timestamp: timestamp as i64,
        body: body.to_vec(),
        metadata,
    }
}

/// Encoded length of `msg` (without a field key), measured by prost.
pub fn message_len(msg: &mvds::Message) -> u32 {
    msg.encoded_len() as u32
}

/// Size of one repeated `bytes` id field entry inside a `Payload` (key, length, 32 bytes).
fn id_entry_len(field: u32) -> usize {
    key_len(field) + encoded_len_varint(ID_LEN as u64) + ID_LEN
}

/// Encoded size of one ACK entry of a `Payload`.
pub fn ack_entry_len() -> usize {
    id_entry_len(PAYLOAD_ACKS)
}

/// Encoded size of one OFFER entry of a `Payload`.
pub fn offer_entry_len() -> usize {
    id_entry_len(PAYLOAD_OFFERS)
}

/// Encoded size of one REQUEST entry of a `Payload`.
pub fn request_entry_len() -> usize {
    id_entry_len(PAYLOAD_REQUESTS)
}

/// Encoded size of one message entry of a `Payload`, for a message of encoded length `len`.
pub fn message_entry_len(len: u32) -> usize {
    key_len(PAYLOAD_MESSAGES) + encoded_len_varint(len as u64) + len as usize
}

/// Encoded size of a `Payload` with the given numbers of acks, offers, requests, and messages
/// whose own encoded lengths are `message_lens`.
pub fn payload_len(
    acks: usize,
    offers: usize,
    requests: usize,
    message_lens: impl IntoIterator<Item = u32>,
) -> usize {
    let ids = acks * ack_entry_len() + offers * offer_entry_len() + requests * request_entry_len();
    let msgs: usize = message_lens.into_iter().map(message_entry_len).sum();
    ids + msgs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_len_matches_real_encoding() {
        let g = group_id("chat");
        let m1 = message(&g, 1000, b"A: hello world");
        let m2 = message(&g, 2000, &[7u8; 300]);
        let m3 = message_with(&g, 3000, b"child", &[[1u8; 32], [2u8; 32]], true);
        let id = message_id(&g, 1000, b"A: hello world").to_vec();
        for (acks, offers, requests, msgs) in [
            (1, 0, 0, vec![]),
            (0, 0, 0, vec![m1.clone()]),
            (3, 2, 1, vec![m1.clone(), m2.clone()]),
            (0, 0, 0, vec![m2.clone()]),
            (1, 1, 1, vec![m3.clone(), m1.clone()]),
            (0, 0, 0, vec![]),
        ] {
            let real = mvds::Payload {
                acks: vec![id.clone(); acks],
                offers: vec![id.clone(); offers],
                requests: vec![id.clone(); requests],
                messages: msgs.clone(),
            };
            let computed = payload_len(acks, offers, requests, msgs.iter().map(message_len));
            assert_eq!(computed, real.encode_to_vec().len());
        }
    }

    #[test]
    fn message_ids_follow_the_rule() {
        let g = group_id("chat");
        let a = message_id(&g, 1000, b"x");
        assert_ne!(a, message_id(&g, 1001, b"x"));
        assert_ne!(a, message_id(&group_id("other"), 1000, b"x"));
        let mut h = Sha256::new();
        h.update(b"MESSAGE_ID");
        h.update(g);
        h.update(1000u64.to_le_bytes());
        h.update(b"x");
        let expected: [u8; 32] = h.finalize().into();
        assert_eq!(a, expected);
    }

    #[test]
    fn decoding_an_encoded_message_round_trips() {
        let m = message(&group_id("g"), 5, b"body");
        let bytes = m.encode_to_vec();
        assert_eq!(mvds::Message::decode(bytes.as_slice()).unwrap(), m);
        assert_eq!(message_len(&m) as usize, bytes.len());
    }
}
