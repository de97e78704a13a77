//! Numbers as their users wrote them. A seed is any 64-bit unsigned integer, so a float cannot
//! carry it: a value out of range (2^64, −1) is named in errors exactly as typed, never as a
//! float's rounding (`1.8446744073709552e19`). Used for a JSON `set` value and for every file
//! that holds a seed (the config's `[music]`, the saved `params.toml`).

use serde::de;

use crate::params::{Param, ParamError};

/// The seed's allowed range, as every error shows it.
pub const SEED_RANGE: &str = "0..=18446744073709551615";

/// Past this many zeros an integer literal (`1e400`) is left as typed rather than written
/// out: the parameter's parser calls it out of range just the same.
const MAX_SHIFT: i64 = 40;

/// The text a JSON number literal stands for as a `set` value: an integer in plain digits,
/// exact at any size (`18446744073709551616`, `1e19` → `10000000000000000000`, `80.0` →
/// `80`); a fraction as typed (`0.3`). A negative number is refused, naming the field and
/// its range: a relative step is text (`"-5"`), so `-1` must not lower anything by one.
pub fn set_value_from_literal(param: Param, literal: &str) -> Result<String, String> {
    let unsigned = literal.strip_prefix('-');
    let text = integer_digits(unsigned.unwrap_or(literal))
        .unwrap_or_else(|| unsigned.unwrap_or(literal).to_string());
    let zero = text
        .bytes()
        .all(|b| matches!(b, b'0' | b'.' | b'e' | b'E' | b'+' | b'-'));
    if unsigned.is_some() && !zero {
        return Err(format!(
            "{param}: {literal} is negative (allowed {}); a relative step is text, e.g. \"-5\"",
            param.allowed()
        ));
    }
    Ok(text)
}

/// `literal` (an unsigned JSON number) in plain decimal digits when it is an integer;
/// `None` for a fraction (`80.5`) or one too large to write out.
fn integer_digits(literal: &str) -> Option<String> {
    let (mantissa, exponent) = match literal.find(['e', 'E']) {
        Some(at) => (&literal[..at], literal[at + 1..].parse::<i64>().ok()?),
        None => (literal, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut digits = format!("{whole}{fraction}");
    let shift = exponent.checked_sub(i64::try_from(fraction.len()).ok()?)?;
    if shift > MAX_SHIFT {
        return None;
    }
    if shift >= 0 {
        digits.extend(std::iter::repeat_n('0', shift as usize));
    } else {
        let cut = digits.len().checked_sub(shift.unsigned_abs() as usize)?;
        if digits[cut..].bytes().any(|b| b != b'0') {
            return None;
        }
        digits.truncate(cut);
    }
    let trimmed = digits.trim_start_matches('0');
    Some(if trimmed.is_empty() { "0" } else { trimmed }.to_string())
}

/// Deserializes a seed from any format (TOML, JSON), refusing with the field, the value as
/// written and the range: `seed: 18446744073709551616 is out of range (allowed 0..=…)`.
pub fn deserialize_seed<'de, D: de::Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    deserializer.deserialize_any(SeedVisitor)
}

/// [`deserialize_seed`] for an optional field (with `#[serde(default)]`).
pub fn deserialize_optional_seed<'de, D: de::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u64>, D::Error> {
    deserialize_seed(deserializer).map(Some)
}

struct SeedVisitor;

impl SeedVisitor {
    fn out_of_range<E: de::Error>(value: impl std::fmt::Display) -> E {
        E::custom(ParamError::Seed(value.to_string()))
    }
}

impl de::Visitor<'_> for SeedVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a seed: a whole number in {SEED_RANGE}")
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<u64, E> {
        Ok(value)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<u64, E> {
        u64::try_from(value).map_err(|_| Self::out_of_range(value))
    }

    fn visit_u128<E: de::Error>(self, value: u128) -> Result<u64, E> {
        u64::try_from(value).map_err(|_| Self::out_of_range(value))
    }

    fn visit_i128<E: de::Error>(self, value: i128) -> Result<u64, E> {
        u64::try_from(value).map_err(|_| Self::out_of_range(value))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<u64, E> {
        // JSON hands integers past u64 over as floats, already rounded: say what is wrong
        // without showing the rounding.
        if value.fract() == 0.0 && value.abs() >= 18_446_744_073_709_551_616.0 {
            return Err(E::custom(format!(
                "seed: a number past 18446744073709551615 is out of range (allowed {SEED_RANGE})"
            )));
        }
        // `{:?}` keeps a float looking like one (`1e19`, `42.0`), as the file wrote it.
        Err(E::custom(ParamError::SeedNotWhole(format!("{value:?}"))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_literals_are_written_out_exactly() {
        for (literal, digits) in [
            ("80", "80"),
            ("18446744073709551616", "18446744073709551616"),
            ("1e19", "10000000000000000000"),
            ("18446744073709551615.0", "18446744073709551615"),
            ("1.5E1", "15"),
            ("0", "0"),
            ("0.0", "0"),
            ("1e400", "1e400"),
            ("80.5", "80.5"),
            ("0.3", "0.3"),
            ("3e-1", "3e-1"),
        ] {
            assert_eq!(
                set_value_from_literal(Param::Seed, literal).unwrap(),
                digits,
                "{literal}"
            );
        }
        assert_eq!(set_value_from_literal(Param::Bpm, "-0").unwrap(), "0");
    }

    #[test]
    fn negative_literals_name_the_field_and_the_range() {
        assert_eq!(
            set_value_from_literal(Param::Seed, "-18446744073709551616").unwrap_err(),
            "seed: -18446744073709551616 is negative (allowed 0..=18446744073709551615); \
             a relative step is text, e.g. \"-5\""
        );
        let err = set_value_from_literal(Param::Bpm, "-1").unwrap_err();
        assert!(
            err.starts_with("bpm: -1 is negative (allowed 40..=120)"),
            "{err}"
        );
    }

    #[test]
    fn a_set_decoded_from_a_number_re_encodes_to_itself() {
        for number in [
            "18446744073709551616",
            "1e19",
            "-0",
            "0.30",
            "1e400",
            "7E+2",
        ] {
            let line = format!(r#"{{"type":"set","param":"seed","value":{number}}}"#);
            let request = crate::decode_request(&line).unwrap();
            let encoded = crate::encode_request(&request);
            assert_eq!(crate::decode_request(&encoded).unwrap(), request, "{line}");
            let reply = crate::handle_line(&line, &mut |_| Ok(crate::Response::Done));
            assert_eq!(reply.matches('\n').count(), 1, "{reply}");
        }
    }

    #[derive(Debug, serde::Deserialize)]
    struct File {
        #[serde(deserialize_with = "deserialize_seed")]
        seed: u64,
    }

    #[test]
    fn seeds_in_files_are_refused_as_written() {
        let err = |text: &str| {
            toml::from_str::<File>(text)
                .unwrap_err()
                .message()
                .to_string()
        };
        assert_eq!(
            toml::from_str::<File>("seed = 18446744073709551615")
                .unwrap()
                .seed,
            u64::MAX
        );
        assert_eq!(
            err("seed = 18446744073709551616"),
            "seed: 18446744073709551616 is out of range (allowed 0..=18446744073709551615)"
        );
        assert_eq!(
            err("seed = -1"),
            "seed: -1 is out of range (allowed 0..=18446744073709551615)"
        );
        assert_eq!(
            err("seed = 1e19"),
            "seed: \"1e19\" is not a whole number in digits (allowed 0..=18446744073709551615)"
        );
        let json = serde_json::from_str::<File>(r#"{"seed":18446744073709551616}"#);
        let json = json.unwrap_err().to_string();
        assert!(!json.contains("e19") && !json.contains("e+19"), "{json}");
    }
}
