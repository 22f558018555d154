//! The encoding of everything Raft stores or sends between nodes: log entries, votes,
//! snapshots and RPC bodies, in bincode 2 over serde. The HTTP API stays JSON.
//!
//! The data directory records [`FORMAT_VERSION`]; a directory written in another format
//! (the JSON of earlier builds has no version) is refused at open rather than misread.

use serde::de::DeserializeOwned;
use serde::Serialize;

pub use bincode::error::{DecodeError, EncodeError};

/// The storage format this build writes and reads. 1 was JSON (never recorded); 2 is
/// bincode 2 (standard configuration: little-endian, variable-length integers).
pub const FORMAT_VERSION: u32 = 2;

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encodes `v`.
pub fn encode<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, EncodeError> {
    bincode::serde::encode_to_vec(v, config())
}

/// Decodes a whole `T` from `bytes`; bytes left over are an error, not ignored.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    let (v, read) = bincode::serde::decode_from_slice(bytes, config())?;
    if read != bytes.len() {
        return Err(DecodeError::OtherString(format!(
            "{} bytes left after the value",
            bytes.len() - read
        )));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use confeitaria_types::{ItemReserva, NovaReserva};

    use super::*;
    use crate::Command;

    /// The log stores commands in this encoding: a variant is its position, a struct its
    /// fields in order. Moving a variant or a field breaks every existing log.
    #[test]
    fn the_log_encoding_is_pinned() {
        let reserve = Command::Reserve(NovaReserva {
            id: "r".into(),
            itens: vec![ItemReserva {
                doce_id: 1,
                quantidade: 2,
            }],
            emitida_em: Some(1_000),
        });
        // Variant 6; "r"; one item (1, 2); Some(1000) as a marked u16.
        assert_eq!(
            encode(&reserve).unwrap(),
            [6, 1, b'r', 1, 1, 2, 1, 251, 0xe8, 0x03]
        );
        assert_eq!(
            encode(&Command::Confirm { id: "r".into() }).unwrap(),
            [7, 1, b'r']
        );
        assert_eq!(
            encode(&Command::Close { id: "r".into() }).unwrap(),
            [9, 1, b'r']
        );
        assert_eq!(
            encode(&Command::Expire {
                now_ms: 5,
                retention_ms: 6
            })
            .unwrap(),
            [10, 5, 6]
        );
        let batch = Command::Batch(vec![reserve.clone()]);
        assert_eq!(decode::<Command>(&encode(&batch).unwrap()).unwrap(), batch);
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut b = encode(&Command::Confirm { id: "r".into() }).unwrap();
        b.push(0);
        assert!(decode::<Command>(&b).is_err());
    }
}
