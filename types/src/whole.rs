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

struct WholeSigned;

impl Visitor<'_> for WholeSigned {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a whole number from -9223372036854775808 to 9223372036854775807")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        // -2^63 and 2^63 are exactly representable.
        if v.fract() == 0.0
            && (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&v)
        {
            Ok(v as i64)
        } else {
            Err(E::invalid_value(de::Unexpected::Float(v), &self))
        }
    }
}

/// Deserializes an `i64` written as `-7562` or `-7562.0`.
pub fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    d.deserialize_i64(WholeSigned)
}

macro_rules! optional {
    ($(#[$doc:meta])* $name:ident, $ty:ty, $inner:path) => {
        $(#[$doc])*
        pub fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<$ty>, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Option<$ty>;

                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a whole number or null")
                }

                fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                    Ok(None)
                }

                fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                    Ok(None)
                }

                fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
                    $inner(d).map(Some)
                }
            }
            d.deserialize_option(V)
        }
    };
}

optional!(
    /// Deserializes an `Option<u64>`: `null`, `7562` or `7562.0`.
    option_u64,
    u64,
    u64
);

optional!(
    /// Deserializes an `Option<i64>`: `null`, `-7562` or `-7562.0`.
    option_i64,
    i64,
    i64
);

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

    #[derive(serde::Deserialize)]
    struct O {
        #[serde(default, deserialize_with = "super::option_u64")]
        n: Option<u64>,
        #[serde(default, deserialize_with = "super::option_i64")]
        d: Option<i64>,
    }

    #[test]
    fn optional_and_signed_whole_numbers() {
        let o = |json: &str| serde_json::from_str::<O>(json).map(|o| (o.n, o.d));
        assert_eq!(o("{}").unwrap(), (None, None));
        assert_eq!(o(r#"{"n": null, "d": null}"#).unwrap(), (None, None));
        assert_eq!(
            o(r#"{"n": 90.0, "d": -5624.0}"#).unwrap(),
            (Some(90), Some(-5624))
        );
        assert_eq!(o(r#"{"n": 90, "d": 7}"#).unwrap(), (Some(90), Some(7)));
        for bad in [
            r#"{"n": 1.5}"#,
            r#"{"d": -1.5}"#,
            r#"{"n": -1}"#,
            r#"{"d": "7"}"#,
        ] {
            assert!(o(bad).is_err(), "{bad} accepted");
        }
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
