//! Packed serde forms of the trackers' per-slice maps, for snapshots.
//!
//! A year of one-minute slices is half a million map entries per SLO. Written as a map, every
//! entry is a key and a struct to parse and insert one at a time; start-up spent most of its
//! time there. Written as one byte string per column (little-endian, column after column, so
//! zstd sees runs of similar bytes), a map is read back with one pass over the bytes and a
//! bulk build of the sorted keys.

use super::availability::SliceCounts;
use crate::model::Micros;
use serde::de::{Error, SeqAccess, Visitor};
use serde::{Deserializer, Serializer};
use std::collections::BTreeMap;

/// Reads a byte string (`bin` in MessagePack, an array of numbers in JSON).
fn bytes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    struct Bytes;
    impl<'de> Visitor<'de> for Bytes {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a byte string")
        }
        fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }
        fn visit_byte_buf<E: Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(b) = seq.next_element()? {
                out.push(b);
            }
            Ok(out)
        }
    }
    deserializer.deserialize_byte_buf(Bytes)
}

/// Splits `bytes` into `n` rows of the given column widths, or says why it cannot.
fn columns<'a, E: Error>(bytes: &'a [u8], widths: &[usize]) -> Result<(usize, Vec<&'a [u8]>), E> {
    let row: usize = widths.iter().sum();
    if !bytes.len().is_multiple_of(row) {
        return Err(E::custom(format!(
            "packed slices: {} bytes is not a whole number of {row}-byte rows",
            bytes.len()
        )));
    }
    let n = bytes.len() / row;
    let mut rest = bytes;
    let mut out = Vec::with_capacity(widths.len());
    for width in widths {
        let (column, tail) = rest.split_at(n * width);
        out.push(column);
        rest = tail;
    }
    Ok((n, out))
}

fn le8(column: &[u8], i: usize) -> [u8; 8] {
    column[i * 8..i * 8 + 8].try_into().unwrap_or_default()
}

fn le4(column: &[u8], i: usize) -> [u8; 4] {
    column[i * 4..i * 4 + 4].try_into().unwrap_or_default()
}

/// `BTreeMap<slice start, SliceCounts>` as columns start (i64), up (u32), down (u32).
pub mod probe_slices {
    use super::*;

    pub fn serialize<S: Serializer>(
        map: &BTreeMap<Micros, SliceCounts>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut out = Vec::with_capacity(map.len() * 16);
        out.extend(map.keys().flat_map(|k| k.to_le_bytes()));
        out.extend(map.values().flat_map(|c| c.up.to_le_bytes()));
        out.extend(map.values().flat_map(|c| c.down.to_le_bytes()));
        serializer.serialize_bytes(&out)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<Micros, SliceCounts>, D::Error> {
        let bytes = bytes(deserializer)?;
        let (n, c) = columns::<D::Error>(&bytes, &[8, 4, 4])?;
        Ok((0..n)
            .map(|i| {
                let counts = SliceCounts {
                    up: u32::from_le_bytes(le4(c[1], i)),
                    down: u32::from_le_bytes(le4(c[2], i)),
                };
                (i64::from_le_bytes(le8(c[0], i)), counts)
            })
            .collect())
    }
}

/// `BTreeMap<bucket start, (good, total)>` as columns start (i64), good (f64), total (f64).
pub mod ratio_buckets {
    use super::*;

    pub fn serialize<S: Serializer>(
        map: &BTreeMap<Micros, (f64, f64)>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut out = Vec::with_capacity(map.len() * 24);
        out.extend(map.keys().flat_map(|k| k.to_le_bytes()));
        out.extend(map.values().flat_map(|(good, _)| good.to_le_bytes()));
        out.extend(map.values().flat_map(|(_, total)| total.to_le_bytes()));
        serializer.serialize_bytes(&out)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<Micros, (f64, f64)>, D::Error> {
        let bytes = bytes(deserializer)?;
        let (n, c) = columns::<D::Error>(&bytes, &[8, 8, 8])?;
        Ok((0..n)
            .map(|i| {
                let good = f64::from_le_bytes(le8(c[1], i));
                let total = f64::from_le_bytes(le8(c[2], i));
                (i64::from_le_bytes(le8(c[0], i)), (good, total))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Both {
        #[serde(with = "probe_slices")]
        probe: BTreeMap<Micros, SliceCounts>,
        #[serde(with = "ratio_buckets")]
        ratio: BTreeMap<Micros, (f64, f64)>,
    }

    #[test]
    fn packed_maps_round_trip_through_messagepack_and_json() {
        let value = Both {
            probe: (0..1000)
                .map(|i| {
                    (
                        i * 60_000_000 - 7,
                        SliceCounts {
                            up: i as u32,
                            down: 3,
                        },
                    )
                })
                .collect(),
            ratio: (0..500).map(|i| (-i, (i as f64 * 0.5, f64::MAX))).collect(),
        };
        let packed = rmp_serde::to_vec_named(&value).unwrap();
        assert_eq!(rmp_serde::from_slice::<Both>(&packed).unwrap(), value);
        let json = serde_json::to_string(&value).unwrap();
        assert_eq!(serde_json::from_str::<Both>(&json).unwrap(), value);
        let torn = serde_json::from_str::<Both>(r#"{"probe": [1, 2, 3], "ratio": []}"#);
        assert!(torn.unwrap_err().to_string().contains("whole number"));
    }
}
