//! Setting one parameter from the text a user typed: absolute values (`80`, `"D minor"`) and
//! relative steps (`+5`, `-0.1`), validated the same way in `ambientctl` and in the daemon;
//! and how a `set` request's value is read off the wire (text, or an absolute JSON number).

use crate::params::{
    BPM_MAX, BPM_MIN, Param, ParamError, SynthesisParameters, parse_bpm, parse_intensity,
    parse_seed,
};

/// A value as typed for `set`: a relative step or an absolute value.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Change<'a> {
    /// `+N` or `-N`: N added to or taken from the current value. A seed's step is an exact
    /// integer (`whole`): a float would round steps past 2^53.
    Relative {
        step: f64,
        whole: i128,
        text: &'a str,
    },
    /// Anything else, parsed by the parameter's own parser.
    Absolute(&'a str),
}

/// Splits `value` into a relative step or an absolute value. A leading sign means relative:
/// no parameter accepts a negative absolute value, and `+80` would otherwise silently mean 80.
fn classify(param: Param, value: &str) -> Result<Change<'_>, ParamError> {
    let text = value.trim();
    if !(text.starts_with('+') || text.starts_with('-')) {
        return Ok(Change::Absolute(text));
    }
    let bad = || invalid(param, text);
    if param == Param::Key {
        return Err(bad());
    }
    if param == Param::Seed {
        // Digits only: "+1e30" and "+0.5" are not steps between seeds; a step of more than
        // 38 digits is out of range as typed.
        let whole = text.parse::<i128>().map_err(|_| match parse_seed(text) {
            Err(ParamError::Seed(_)) => ParamError::Seed(text.to_string()),
            _ => ParamError::SeedNotWhole(text.to_string()),
        })?;
        return Ok(Change::Relative {
            step: whole as f64,
            whole,
            text,
        });
    }
    let step: f64 = text.parse().map_err(|_| bad())?;
    if !step.is_finite() {
        return Err(bad());
    }
    // A step in a whole-number parameter must be whole: "+0.5" bpm is a typo, not a request.
    if param == Param::Bpm && step.fract() != 0.0 {
        return Err(bad());
    }
    Ok(Change::Relative {
        step,
        whole: 0,
        text,
    })
}

/// The error for a value that is not even of the parameter's shape.
fn invalid(param: Param, text: &str) -> ParamError {
    match param {
        Param::Key => ParamError::Key(text.to_string()),
        Param::Bpm => ParamError::BpmNotWhole(text.to_string()),
        Param::Intensity => ParamError::IntensityNotNumber(text.to_string()),
        Param::Seed => ParamError::SeedNotWhole(text.to_string()),
    }
}

/// Checks what can be checked without knowing the current values: absolute values fully
/// (range included), relative steps for their shape. `ambientctl` calls this before it
/// connects, so a typo never reaches the daemon.
pub fn check_set_value(param: Param, value: &str) -> Result<(), ParamError> {
    match classify(param, value)? {
        Change::Relative { .. } => Ok(()),
        Change::Absolute(text) => SynthesisParameters::default()
            .set_from_str(param, text)
            .map(drop),
    }
}

/// Whether `value` is a relative step (`+5`, `-0.1`) rather than an absolute value.
pub fn is_relative(value: &str) -> bool {
    let text = value.trim();
    text.starts_with('+') || text.starts_with('-')
}

/// `current` with `param` set from `value` as typed: an absolute value (`80`, `"D minor"`,
/// `0.3`, `42`) or, for bpm, intensity and seed, a relative step (`+5`, `-5`, `+0.1`).
///
/// A result outside the allowed range is an error naming the field, the value it would have
/// reached and the range, e.g. `bpm: 123 (118+5) is out of range (allowed 40..=120)`.
/// Relative intensity is rounded to 6 decimals so `0.9 +0.1` lands on 1.0, not 1.0000001.
pub fn apply_set(
    current: &SynthesisParameters,
    param: Param,
    value: &str,
) -> Result<SynthesisParameters, ParamError> {
    let mut next = *current;
    match classify(param, value)? {
        Change::Absolute(text) => next.set_from_str(param, text)?,
        Change::Relative { step, whole, text } => {
            let old = current.get_as_string(param);
            let shown = |new: &dyn std::fmt::Display| format!("{new} ({old}{text})");
            match param {
                Param::Bpm => {
                    let new = f64::from(current.bpm()) + step;
                    if !(f64::from(BPM_MIN)..=f64::from(BPM_MAX)).contains(&new) {
                        return Err(ParamError::Bpm(shown(&new)));
                    }
                    next.set_bpm(parse_bpm(&new.to_string())?)?;
                }
                Param::Intensity => {
                    let new = ((f64::from(current.intensity()) + step) * 1e6).round() / 1e6;
                    if !(0.0..=1.0).contains(&new) {
                        return Err(ParamError::Intensity(shown(&new)));
                    }
                    next.set_intensity(parse_intensity(&new.to_string())?)?;
                }
                Param::Seed => {
                    let out = || ParamError::Seed(format!("{old}{text}"));
                    let new = i128::from(current.seed())
                        .checked_add(whole)
                        .ok_or_else(out)?;
                    let seed = u64::try_from(new).map_err(|_| ParamError::Seed(shown(&new)))?;
                    next.set_seed(seed);
                }
                Param::Key => unreachable!("classify rejects relative keys"),
            }
        }
    }
    Ok(next)
}

/// A `set` value as text; a JSON number is accepted too, so hand-written and browser clients
/// may send `"value":80` as well as `"value":"80"`. [`crate::decode_request`] reads a
/// number's literal itself ([`set_from_json`]); this is serde's path for a `Request` decoded
/// by other means, where a number past 2^53 has already lost its digits.
pub(crate) fn text_or_number<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<String, D::Error> {
    deserializer.deserialize_any(SetValue)
}

/// A `set` value: text as typed (`"80"`, `"+5"`, `"D minor"`), or a JSON number, which is
/// always an absolute value. A negative number is refused rather than read as a relative step
/// (`-1` would otherwise lower the tempo by one), and a number too large for a float to hold
/// exactly is refused rather than rounded.
struct SetValue;

/// The largest integer an f64 holds exactly (2^53).
const EXACT_IN_F64: f64 = 9_007_199_254_740_992.0;

impl serde::de::Visitor<'_> for SetValue {
    type Value = String;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string or a number, e.g. \"D minor\", 80, \"+5\"")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<String, E> {
        Ok(text.to_string())
    }

    fn visit_u64<E: serde::de::Error>(self, number: u64) -> Result<String, E> {
        Ok(number.to_string())
    }

    fn visit_i64<E: serde::de::Error>(self, number: i64) -> Result<String, E> {
        if number < 0 {
            return Err(negative(number));
        }
        Ok(number.to_string())
    }

    fn visit_f64<E: serde::de::Error>(self, number: f64) -> Result<String, E> {
        if number < 0.0 {
            return Err(negative(number));
        }
        if number.fract() == 0.0 && number >= EXACT_IN_F64 {
            return Err(E::custom(format!(
                "the number {number:e} is too large to be read exactly; send it as a string"
            )));
        }
        Ok(number.to_string())
    }
}

/// A `set` line's fields, its value unparsed: the text of a number survives only this way
/// (serde hands a tagged enum's numbers over as floats past u64, rounded).
#[derive(serde::Deserialize)]
struct WireSet<'a> {
    #[serde(rename = "type")]
    kind: String,
    param: Param,
    #[serde(borrow)]
    value: &'a serde_json::value::RawValue,
}

/// The `set` request in `line`, its value read exactly: text as sent, a number as written
/// ([`crate::exact::set_value_from_literal`]). `None` when `line` is not a well-formed
/// `set` (the caller's ordinary decoding then says what is wrong).
pub(crate) fn set_from_json(line: &str) -> Option<Result<crate::Request, String>> {
    let wire: WireSet = serde_json::from_str(line).ok()?;
    if wire.kind != "set" {
        return None;
    }
    let raw = wire.value.get();
    let value = match raw.as_bytes().first() {
        Some(b'-' | b'0'..=b'9') => crate::exact::set_value_from_literal(wire.param, raw),
        Some(b'"') => serde_json::from_str::<String>(raw).map_err(|e| e.to_string()),
        _ => return None,
    };
    Some(value.map(|value| crate::Request::Set {
        param: wire.param,
        value,
    }))
}

fn negative<E: serde::de::Error>(number: impl std::fmt::Display) -> E {
    E::custom(format!(
        "{number} is negative, and no parameter takes a negative value (a relative step is \
         text: \"-5\")"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(bpm: u16, intensity: f32, seed: u64) -> SynthesisParameters {
        SynthesisParameters::new(Default::default(), bpm, intensity, seed).unwrap()
    }

    fn err(current: SynthesisParameters, param: Param, value: &str) -> String {
        apply_set(&current, param, value).unwrap_err().to_string()
    }

    #[test]
    fn absolute_values_set_the_parameter() {
        let p = at(70, 0.5, 0);
        assert_eq!(apply_set(&p, Param::Bpm, "80").unwrap().bpm(), 80);
        assert_eq!(apply_set(&p, Param::Bpm, " 80 ").unwrap().bpm(), 80);
        assert_eq!(
            apply_set(&p, Param::Intensity, "0.3").unwrap().intensity(),
            0.3
        );
        assert_eq!(apply_set(&p, Param::Seed, "42").unwrap().seed(), 42);
        let key = apply_set(&p, Param::Key, "D minor").unwrap().key();
        assert_eq!(key.to_string(), "D minor");
        let unchanged = apply_set(&p, Param::Bpm, "80").unwrap();
        assert_eq!(
            (unchanged.key(), unchanged.intensity(), unchanged.seed()),
            (p.key(), p.intensity(), p.seed()),
            "only the named parameter changes"
        );
    }

    #[test]
    fn relative_steps_move_from_the_current_value() {
        let p = at(70, 0.5, 10);
        assert_eq!(apply_set(&p, Param::Bpm, "+5").unwrap().bpm(), 75);
        assert_eq!(apply_set(&p, Param::Bpm, "-5").unwrap().bpm(), 65);
        assert_eq!(
            apply_set(&p, Param::Intensity, "+0.1").unwrap().intensity(),
            0.6
        );
        assert_eq!(
            apply_set(&p, Param::Intensity, "-0.5").unwrap().intensity(),
            0.0
        );
        assert_eq!(
            apply_set(&at(70, 0.9, 0), Param::Intensity, "+0.1")
                .unwrap()
                .intensity(),
            1.0
        );
        assert_eq!(apply_set(&p, Param::Seed, "+1").unwrap().seed(), 11);
        assert_eq!(apply_set(&p, Param::Seed, "-10").unwrap().seed(), 0);
        assert_eq!(
            apply_set(&at(115, 0.5, 0), Param::Bpm, "+5").unwrap().bpm(),
            120
        );
    }

    #[test]
    fn relative_steps_out_of_range_name_the_field_the_target_and_the_range() {
        assert_eq!(
            err(at(118, 0.5, 0), Param::Bpm, "+5"),
            "bpm: 123 (118+5) is out of range (allowed 40..=120)"
        );
        assert_eq!(
            err(at(42, 0.5, 0), Param::Bpm, "-5"),
            "bpm: 37 (42-5) is out of range (allowed 40..=120)"
        );
        assert_eq!(
            err(at(70, 0.95, 0), Param::Intensity, "+0.1"),
            "intensity: 1.05 (0.95+0.1) is out of range (allowed 0.0..=1.0)"
        );
        assert_eq!(
            err(at(70, 0.5, 3), Param::Seed, "-5"),
            "seed: -2 (3-5) is out of range (allowed 0..=18446744073709551615)"
        );
        // A seed's step is exact: no float rounds 2^64+1.
        assert_eq!(
            err(at(70, 0.5, u64::MAX), Param::Seed, "+18446744073709551617"),
            "seed: 36893488147419103232 (18446744073709551615+18446744073709551617) is out of \
             range (allowed 0..=18446744073709551615)"
        );
        assert_eq!(
            err(at(70, 0.5, 0), Param::Seed, "+1e3"),
            "seed: \"+1e3\" is not a whole number in digits (allowed 0..=18446744073709551615)"
        );
        assert_eq!(
            err(at(70, 0.5, 0), Param::Seed, "+1e30"),
            "seed: +1e30 is out of range (allowed 0..=18446744073709551615)"
        );
        assert_eq!(
            apply_set(&at(70, 0.5, 1), Param::Seed, "+18446744073709551614")
                .unwrap()
                .seed(),
            u64::MAX
        );
        let max = at(70, 0.5, u64::MAX);
        assert!(err(max, Param::Seed, "+1").contains("allowed 0..=18446744073709551615"));
    }

    #[test]
    fn malformed_values_are_rejected_before_any_arithmetic() {
        let p = at(70, 0.5, 0);
        for (param, bad) in [
            (Param::Bpm, "+fast"),
            (Param::Bpm, "+0.5"),
            (Param::Bpm, "fast"),
            (Param::Bpm, "+inf"),
            (Param::Key, "+5"),
            (Param::Key, "H minor"),
            (Param::Intensity, "-"),
            (Param::Intensity, "+NaN"),
            (Param::Seed, "+1.5"),
        ] {
            let msg = err(p, param, bad);
            assert!(msg.starts_with(&format!("{param}: ")), "{bad}: {msg}");
            assert!(check_set_value(param, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_client_side_check_accepts_what_the_daemon_may_accept() {
        assert!(
            check_set_value(Param::Bpm, "+5").is_ok(),
            "range needs the current value"
        );
        assert!(check_set_value(Param::Bpm, "80").is_ok());
        assert_eq!(
            check_set_value(Param::Bpm, "200").unwrap_err().to_string(),
            "bpm: 200 is out of range (allowed 40..=120)"
        );
        assert!(check_set_value(Param::Key, "F#m").is_ok());
        assert!(check_set_value(Param::Intensity, "1.5").is_err());
        assert!(is_relative(" -5") && is_relative("+0.1") && !is_relative("80"));
    }

    #[test]
    fn set_numbers_are_absolute_exact_and_never_negative() {
        let value = |json: &str| match crate::protocol::decode_request(&format!(
            r#"{{"type":"set","param":"seed","value":{json}}}"#
        )) {
            Ok(crate::protocol::Request::Set { value, .. }) => Ok(value),
            Ok(other) => panic!("{other:?}"),
            Err(err) => Err(err.to_string()),
        };
        assert_eq!(value("80").unwrap(), "80");
        assert_eq!(value("0.3").unwrap(), "0.3");
        assert_eq!(
            value("18446744073709551615").unwrap(),
            "18446744073709551615"
        );
        assert_eq!(
            value(r#""-5""#).unwrap(),
            "-5",
            "text may be a relative step"
        );
        for negative in ["-1", "-0.5"] {
            let err = value(negative).unwrap_err();
            assert!(err.contains("negative") && err.contains("\"-5\""), "{err}");
        }
        // Numbers keep their digits at any size; the range is the parameter's business.
        assert_eq!(
            value("18446744073709551616").unwrap(),
            "18446744073709551616"
        );
        assert_eq!(value("1e19").unwrap(), "10000000000000000000");
        assert_eq!(value("80.0").unwrap(), "80");
        let negative = value("-18446744073709551616").unwrap_err();
        assert!(
            negative.contains(
                "seed: -18446744073709551616 is negative (allowed 0..=18446744073709551615)"
            ),
            "{negative}"
        );
        let p = at(70, 0.5, 0);
        assert_eq!(
            err(p, Param::Seed, &value("18446744073709551616").unwrap()),
            "seed: 18446744073709551616 is out of range (allowed 0..=18446744073709551615)"
        );
        for other in ["true", "null", "[1]"] {
            let err = value(other).unwrap_err();
            assert!(err.contains("a string or a number"), "{err}");
            assert!(!err.contains("enum"), "no internal type names: {err}");
        }
    }
}
