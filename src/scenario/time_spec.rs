//! Times and durations in a scenario: a bare integer is a number of ticks; a string is a
//! duration with a unit (`"500ms"`, `"10s"`, `"27.5s"`, `"2min"`, `"1h"`), converted to ticks with
//! the scenario's `tick_ms`, rounding up (a timeout of 10 s is never shorter than 10 s).

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;

/// A time or duration as written in a scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeSpec {
    /// A number of ticks.
    Ticks(u64),
    /// A duration in milliseconds (written with a unit).
    Millis(u64),
}

impl Default for TimeSpec {
    fn default() -> Self {
        TimeSpec::Ticks(0)
    }
}

impl TimeSpec {
    /// The value in ticks, for ticks of `tick_ms` milliseconds (rounded up).
    pub fn to_ticks(self, tick_ms: u64) -> u64 {
        match self {
            TimeSpec::Ticks(t) => t,
            TimeSpec::Millis(ms) => ms.div_ceil(tick_ms.max(1)),
        }
    }

    /// Parses `"<number><unit>"`; the number may have a fractional part if the result is a
    /// whole number of milliseconds.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let unit_ms: u64 = match unit.trim() {
            "ms" => 1,
            "s" => 1_000,
            "min" => 60_000,
            "h" => 3_600_000,
            "" => {
                return Err(format!(
                    "{text:?} has no unit (write ticks as a bare number, or use ms, s, min, h)"
                ));
            }
            other => {
                return Err(format!(
                    "unknown time unit {other:?} in {text:?} (expected ms, s, min or h)"
                ));
            }
        };
        let (int, frac) = number.split_once('.').unwrap_or((number, ""));
        if int.is_empty()
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || (number.contains('.') && frac.is_empty())
        {
            return Err(format!(
                "{text:?} is not a duration like \"500ms\" or \"2.5s\""
            ));
        }
        if frac.len() > 9 {
            return Err(format!("{text:?} has too many decimals"));
        }
        let overflow = || format!("{text:?} is too large");
        let int: u64 = int.parse().map_err(|_| overflow())?;
        let frac_value: u64 = if frac.is_empty() {
            0
        } else {
            frac.parse().map_err(|_| overflow())?
        };
        let scale = 10u64.pow(frac.len() as u32);
        let whole = int.checked_mul(unit_ms).ok_or_else(overflow)?;
        let part = frac_value * unit_ms;
        if !part.is_multiple_of(scale) {
            return Err(format!("{text:?} is not a whole number of milliseconds"));
        }
        Ok(TimeSpec::Millis(
            whole.checked_add(part / scale).ok_or_else(overflow)?,
        ))
    }
}

impl fmt::Display for TimeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeSpec::Ticks(t) => write!(f, "{t}"),
            TimeSpec::Millis(ms) => write!(f, "{ms}ms"),
        }
    }
}

impl Serialize for TimeSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            TimeSpec::Ticks(t) => s.serialize_u64(*t),
            TimeSpec::Millis(_) => s.serialize_str(&self.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for TimeSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = TimeSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number of ticks (a non-negative integer) or a duration like \"500ms\" or \"10s\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<TimeSpec, E> {
                Ok(TimeSpec::Ticks(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<TimeSpec, E> {
                u64::try_from(v).map(TimeSpec::Ticks).map_err(|_| {
                    E::custom(format!("expected a non-negative number of ticks, got {v}"))
                })
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<TimeSpec, E> {
                Err(E::custom(format!(
                    "expected a whole number of ticks, got {v} (for fractions of a second write e.g. \"0.5s\")"
                )))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TimeSpec, E> {
                TimeSpec::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for TimeSpec {
    fn schema_name() -> Cow<'static, str> {
        "TimeSpec".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A number of ticks, or a duration with a unit (ms, s, min, h), converted to ticks with tick_ms, rounding up.",
            "oneOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?\\s*(ms|s|min|h)$" }
            ]
        })
    }
}

/// A time that may be fractional, for distribution parameters (means, medians): a number of
/// ticks (`2.5`) or a duration with a unit (`"750ms"`), converted with `tick_ms` exactly.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FloatTicks {
    /// A number of ticks.
    Ticks(f64),
    /// A duration in milliseconds (written with a unit).
    Millis(u64),
}

impl FloatTicks {
    /// The value in ticks of `tick_ms` milliseconds.
    pub fn to_ticks(self, tick_ms: u64) -> f64 {
        match self {
            FloatTicks::Ticks(t) => t,
            FloatTicks::Millis(ms) => ms as f64 / tick_ms.max(1) as f64,
        }
    }
}

impl fmt::Display for FloatTicks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FloatTicks::Ticks(t) => write!(f, "{t}"),
            FloatTicks::Millis(ms) => write!(f, "{ms}ms"),
        }
    }
}

impl Serialize for FloatTicks {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            FloatTicks::Ticks(t) => s.serialize_f64(*t),
            FloatTicks::Millis(_) => s.serialize_str(&self.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for FloatTicks {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = FloatTicks;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number of ticks (may be fractional) or a duration like \"500ms\" or \"2.5s\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<FloatTicks, E> {
                Ok(FloatTicks::Ticks(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<FloatTicks, E> {
                Ok(FloatTicks::Ticks(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<FloatTicks, E> {
                Ok(FloatTicks::Ticks(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FloatTicks, E> {
                match TimeSpec::parse(v).map_err(E::custom)? {
                    TimeSpec::Millis(ms) => Ok(FloatTicks::Millis(ms)),
                    TimeSpec::Ticks(t) => Ok(FloatTicks::Ticks(t as f64)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for FloatTicks {
    fn schema_name() -> Cow<'static, str> {
        "FloatTicks".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A number of ticks (may be fractional), or a duration with a unit (ms, s, min, h), converted to ticks with tick_ms.",
            "oneOf": [
                { "type": "number" },
                { "type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?\\s*(ms|s|min|h)$" }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_fractions() {
        assert_eq!(TimeSpec::parse("500ms"), Ok(TimeSpec::Millis(500)));
        assert_eq!(TimeSpec::parse("10s"), Ok(TimeSpec::Millis(10_000)));
        assert_eq!(TimeSpec::parse("27.5s"), Ok(TimeSpec::Millis(27_500)));
        assert_eq!(TimeSpec::parse("2min"), Ok(TimeSpec::Millis(120_000)));
        assert_eq!(TimeSpec::parse("1h"), Ok(TimeSpec::Millis(3_600_000)));
        assert!(TimeSpec::parse("10").unwrap_err().contains("no unit"));
        assert!(
            TimeSpec::parse("10 parsecs")
                .unwrap_err()
                .contains("unknown time unit")
        );
        assert!(
            TimeSpec::parse("0.5ms")
                .unwrap_err()
                .contains("whole number")
        );
        assert!(TimeSpec::parse("s").is_err());
        assert!(TimeSpec::parse("1.s").is_err());
        assert!(TimeSpec::parse("99999999999999999999s").is_err());
    }

    #[test]
    fn converts_to_ticks_rounding_up() {
        assert_eq!(TimeSpec::Millis(10_000).to_ticks(300), 34);
        assert_eq!(TimeSpec::Millis(900).to_ticks(300), 3);
        assert_eq!(TimeSpec::Ticks(7).to_ticks(300), 7);
    }

    #[test]
    fn deserializes_numbers_and_strings() {
        let t: TimeSpec = serde_json::from_str("12").unwrap();
        assert_eq!(t, TimeSpec::Ticks(12));
        let t: TimeSpec = serde_json::from_str("\"3s\"").unwrap();
        assert_eq!(t, TimeSpec::Millis(3000));
        assert!(serde_json::from_str::<TimeSpec>("-1").is_err());
        assert!(serde_json::from_str::<TimeSpec>("1.5").is_err());
        assert_eq!(
            serde_json::to_string(&TimeSpec::Millis(3000)).unwrap(),
            "\"3000ms\""
        );
    }
}
