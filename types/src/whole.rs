//! Whole numbers as JSON Schema counts them: `7562.0` is the integer 7562.
//!
//! The OpenAPI documents type ids and quantities as `integer`, and JSON Schema's `integer`
//! admits a number with a zero fraction; serde's `u64` refuses it. Fields that take
//! `#[serde(deserialize_with = "whole::u64")]` accept both spellings and still refuse
//! fractions, negatives and values past `u64::MAX`. It asks the format for a `u64`, so
//! non-self-describing formats read it exactly as a plain `u64`.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};

struct Whole;

impl Visitor<'_> for Whole {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a whole number from 0 to 18446744073709551615")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<u64, E> {
        // 2^64 is exactly representable; every whole f64 below it fits a u64.
        if v.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&v) {
            Ok(v as u64)
        } else {
            Err(E::invalid_value(de::Unexpected::Float(v), &self))
        }
    }
}

/// Deserializes a `u64` written as `7562` or `7562.0`.
pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    d.deserialize_u64(Whole)
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize)]
    struct T {
        #[serde(deserialize_with = "super::u64")]
        n: u64,
    }

    fn n(json: &str) -> Result<u64, serde_json::Error> {
        serde_json::from_str::<T>(json).map(|t| t.n)
    }

    #[test]
    fn whole_numbers_in_either_spelling_are_accepted() {
        assert_eq!(n(r#"{"n": 7562}"#).unwrap(), 7562);
        assert_eq!(n(r#"{"n": 7562.0}"#).unwrap(), 7562);
        assert_eq!(n(r#"{"n": 0.0}"#).unwrap(), 0);
        assert_eq!(n(r#"{"n": 18446744073709551615}"#).unwrap(), u64::MAX);
    }

    #[test]
    fn fractions_negatives_overflow_and_other_types_are_refused() {
        for bad in [
            "7562.5",
            "-1",
            "-1.0",
            "1e20",
            "18446744073709551616",
            "\"7\"",
            "null",
            "true",
        ] {
            assert!(n(&format!(r#"{{"n": {bad}}}"#)).is_err(), "{bad} accepted");
        }
    }
}
