//! proto3 JSON written straight from a `DynamicMessage` into the response
//! buffer: the same bytes as prost-reflect's serde serializer (a test checks
//! every shape against it), without its per-value dispatch through serde
//! and, for `Timestamp`, without re-encoding the message to read it.
//! Well-known types other than `Timestamp` (rare in answers) and messages
//! with extensions go to prost-reflect.

use std::borrow::Cow;

use base64::{Engine as _, prelude::BASE64_STANDARD};
use prost_reflect::{DynamicMessage, Kind, MapKey, ReflectMessage as _, SerializeOptions, Value};
use serde::ser::Error as _;

/// The mapping options the writer needs (prost-reflect's defaults besides:
/// 64-bit integers as strings).
#[derive(Debug, Clone)]
pub struct Options {
    pub proto_names: bool,
    pub skip_defaults: bool,
    pub enum_numbers: bool,
    /// For what goes to prost-reflect.
    pub ser: SerializeOptions,
}

const TIMESTAMP: &str = "google.protobuf.Timestamp";
const WKT_PACKAGE: &str = "google.protobuf.";
/// prost-reflect's range: years 0001 to 9999.
const MIN_TIMESTAMP_SECONDS: i64 = -62_135_596_800;
const MAX_TIMESTAMP_SECONDS: i64 = 253_402_300_799;

pub fn message(
    message: &DynamicMessage,
    options: &Options,
    out: &mut Vec<u8>,
) -> Result<(), serde_json::Error> {
    let desc = message.descriptor();
    let name = desc.full_name();
    if name == TIMESTAMP {
        return timestamp(message, out);
    }
    if name.starts_with(WKT_PACKAGE) || message.extensions().next().is_some() {
        return message.serialize_with_options(&mut serde_json::Serializer::new(out), &options.ser);
    }
    out.push(b'{');
    let mut first = true;
    for field in desc.fields() {
        let set = message.has_field(&field);
        // prost-reflect's rule: with defaults emitted, every field without
        // presence; else only the set ones.
        if !set && (options.skip_defaults || field.supports_presence()) {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        let name = if options.proto_names {
            field.name()
        } else {
            field.json_name()
        };
        string(name, out);
        out.push(b':');
        let value: Cow<'_, Value> = message.get_field(&field);
        self::value(&value, &field.kind(), options, out)?;
    }
    out.push(b'}');
    Ok(())
}

fn value(
    value: &Value,
    kind: &Kind,
    options: &Options,
    out: &mut Vec<u8>,
) -> Result<(), serde_json::Error> {
    match value {
        Value::Bool(v) => out.extend_from_slice(if *v { b"true" } else { b"false" }),
        Value::I32(v) => number(v, out),
        Value::U32(v) => number(v, out),
        Value::I64(v) => quoted(v, out),
        Value::U64(v) => quoted(v, out),
        Value::F32(v) => float(v, f64::from(*v), out),
        Value::F64(v) => float(v, *v, out),
        Value::String(v) => string(v, out),
        Value::Bytes(v) => {
            out.push(b'"');
            let start = out.len();
            out.resize(start + base64::encoded_len(v.len(), true).unwrap_or(0), 0);
            let written = BASE64_STANDARD
                .encode_slice(v, &mut out[start..])
                .map_err(serde_json::Error::custom)?;
            out.truncate(start + written);
            out.push(b'"');
        }
        Value::EnumNumber(number) => {
            let Kind::Enum(enum_ty) = kind else {
                return Err(serde_json::Error::custom(
                    "an enum value of a non-enum field",
                ));
            };
            if enum_ty.full_name() == "google.protobuf.NullValue" {
                out.extend_from_slice(b"null");
            } else if options.enum_numbers {
                self::number(number, out);
            } else if let Some(enum_value) = enum_ty.get_value(*number) {
                string(enum_value.name(), out);
            } else {
                self::number(number, out);
            }
        }
        Value::Message(inner) => message(inner, options, out)?,
        Value::List(values) => {
            out.push(b'[');
            for (i, item) in values.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                self::value(item, kind, options, out)?;
            }
            out.push(b']');
        }
        Value::Map(entries) => {
            let value_kind = match kind {
                Kind::Message(entry) if entry.is_map_entry() => {
                    entry.map_entry_value_field().kind()
                }
                _ => return Err(serde_json::Error::custom("a map value of a non-map field")),
            };
            out.push(b'{');
            for (i, (key, item)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                match key {
                    MapKey::Bool(k) => quoted(k, out),
                    MapKey::I32(k) => quoted(k, out),
                    MapKey::I64(k) => quoted(k, out),
                    MapKey::U32(k) => quoted(k, out),
                    MapKey::U64(k) => quoted(k, out),
                    MapKey::String(k) => string(k, out),
                }
                out.push(b':');
                self::value(item, &value_kind, options, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// A finite float as serde_json writes it; the others as proto3 JSON's
/// strings.
fn float<T: serde::Serialize>(v: &T, wide: f64, out: &mut Vec<u8>) {
    if wide.is_finite() {
        number(v, out);
    } else if wide == f64::INFINITY {
        out.extend_from_slice(b"\"Infinity\"");
    } else if wide == f64::NEG_INFINITY {
        out.extend_from_slice(b"\"-Infinity\"");
    } else {
        out.extend_from_slice(b"\"NaN\"");
    }
}

fn number<T: serde::Serialize>(v: &T, out: &mut Vec<u8>) {
    // Writing a number into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
}

fn quoted<T: std::fmt::Display>(v: &T, out: &mut Vec<u8>) {
    use std::io::Write as _;
    // Digits, `true` or `false`: nothing to escape; a Vec cannot fail.
    let _ = write!(out, "\"{v}\"");
}

fn string(v: &str, out: &mut Vec<u8>) {
    let _ = serde_json::to_writer(&mut *out, v);
}

/// RFC 3339 in UTC, as prost-types formats it (what prost-reflect writes).
fn timestamp(message: &DynamicMessage, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    let field = |number| message.get_field_by_number(number);
    let seconds = field(1).and_then(|v| v.as_i64()).unwrap_or_default();
    let nanos = field(2).and_then(|v| v.as_i32()).unwrap_or_default();
    if !(MIN_TIMESTAMP_SECONDS..=MAX_TIMESTAMP_SECONDS).contains(&seconds) {
        return Err(serde_json::Error::custom("timestamp out of range"));
    }
    if (0..1_000_000_000).contains(&nanos) {
        rfc3339(seconds, nanos.unsigned_abs(), out);
    } else {
        // Nanos to normalise first: prost-types' own formatting does that.
        quoted(&prost_types::Timestamp { seconds, nanos }, out);
    }
    Ok(())
}

/// `"YYYY-MM-DDThh:mm:ss[.fff|.ffffff|.fffffffff]Z"` for a time in years
/// 0001 to 9999, digit by digit: `core::fmt` with padding cost more than
/// the rest of the answer's JSON.
fn rfc3339(seconds: i64, nanos: u32, out: &mut Vec<u8>) {
    let (days, time) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    let digits = |out: &mut Vec<u8>, value: u64, width: u32| {
        for place in (0..width).rev() {
            out.push(b'0' + (value / 10u64.pow(place) % 10) as u8);
        }
    };
    out.push(b'"');
    digits(out, year.unsigned_abs(), 4);
    out.push(b'-');
    digits(out, month, 2);
    out.push(b'-');
    digits(out, day, 2);
    out.push(b'T');
    let time = time.unsigned_abs();
    digits(out, time / 3600, 2);
    out.push(b':');
    digits(out, time / 60 % 60, 2);
    out.push(b':');
    digits(out, time % 60, 2);
    let nanos = u64::from(nanos);
    if nanos == 0 {
    } else if nanos % 1_000_000 == 0 {
        out.push(b'.');
        digits(out, nanos / 1_000_000, 3);
    } else if nanos % 1_000 == 0 {
        out.push(b'.');
        digits(out, nanos / 1_000, 6);
    } else {
        out.push(b'.');
        digits(out, nanos, 9);
    }
    out.extend_from_slice(b"Z\"");
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u64, u64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month.unsigned_abs(), day.unsigned_abs())
}

#[cfg(test)]
mod tests {
    use prost_reflect::{DescriptorPool, DeserializeOptions};

    use super::*;

    const SHAPES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/shapes_descriptor.bin"));

    /// Every field kind of `EchoRequest`: scalars at and off their
    /// defaults, 64-bit and non-finite numbers, escapes, bytes, enums (a
    /// number without a name too), lists, maps, nested messages, the
    /// well-known types, optional and oneof fields.
    const DOCUMENTS: &[&str] = &[
        "{}",
        r#"{"tags":[],"labels":{}}"#,
        r#"{"path_value":"p/1","text":"a \"quoted\"\nline \u0001 é ☃ </script>",
            "int32_value":-7,"int64_value":"-9223372036854775808","uint32_value":4294967295,
            "uint64_value":"18446744073709551615","flag":true,"ratio":0.1,"score":-1.25e10,
            "blob":"AAEC/w==","color":99,"tags":["x","","y"],"numbers":[0,1,-2147483648],
            "colors":["COLOR_RED",2,99],"inner":{"label":"l","count":0,"deep":{"note":"",
            "values":["1","-2"]}},"payload":{},
            "when":"1965-07-25T00:00:00.120Z","wait":"1.5s","mask":"a.b,c",
            "maybe_text":"","maybe_int":0,"maybe_flag":false,"maybe_long":"-9007199254740993",
            "maybe_double":"NaN","attributes":{"k":[1,"two",null,{"n":true}]},
            "any_value":1.5e300,"labels":{"b":"2","a":"1","":"\t"},"opt_text":"",
            "choice_number":0,"maybe_uint":4294967295,"maybe_bytes":"AAEC/w==",
            "maybe_float":"-Infinity","maybe_ulong":"18446744073709551615"}"#,
        r#"{"ratio":"Infinity","score":"NaN","color":"COLOR_RED","choice_text":"c",
            "opt_text":"set","inner":{"deep":{}},"blob":""}"#,
        r#"{"ratio":-0.0,"score":1e-45,"int64_value":"0","colors":[]}"#,
        r#"{"when":"0001-01-01T00:00:00Z"}"#,
        r#"{"when":"9999-12-31T23:59:59.999999999Z"}"#,
        r#"{"when":"2024-02-29T12:00:00.000001Z"}"#,
        r#"{"when":"1969-12-31T23:59:59.5Z"}"#,
    ];

    fn pool() -> DescriptorPool {
        DescriptorPool::decode(SHAPES).unwrap()
    }

    #[test]
    fn writes_what_prost_reflect_writes() {
        let pool = pool();
        let mut descs: Vec<_> = pool.all_messages().collect();
        descs.retain(|d| d.full_name().starts_with("gwtest."));
        let echo = pool
            .get_message_by_name("gwtest.shapes.v1.EchoRequest")
            .unwrap();
        let lenient = DeserializeOptions::new();
        let mut messages = Vec::new();
        for document in DOCUMENTS {
            let mut de = serde_json::Deserializer::from_str(document);
            let message = DynamicMessage::deserialize_with_options(echo.clone(), &mut de, &lenient)
                .unwrap_or_else(|e| panic!("{document}: {e}"));
            messages.push(message);
        }
        // Timestamps whose nanos need normalising (JSON cannot say so).
        for nanos in [-5, 1_500_000_000, -1_000_000_001] {
            let mut message = DynamicMessage::new(echo.clone());
            if let Some(Value::Message(when)) = message.get_field_by_name_mut("when") {
                when.set_field_by_number(1, Value::I64(86_400));
                when.set_field_by_number(2, Value::I32(nanos));
            }
            messages.push(message);
        }
        // The other messages of the set, empty.
        messages.extend(descs.into_iter().map(DynamicMessage::new));
        for message in &messages {
            for bits in 0..8u8 {
                let ser = SerializeOptions::new()
                    .use_proto_field_name(bits & 1 != 0)
                    .skip_default_fields(bits & 2 != 0)
                    .use_enum_numbers(bits & 4 != 0);
                let options = Options {
                    proto_names: bits & 1 != 0,
                    skip_defaults: bits & 2 != 0,
                    enum_numbers: bits & 4 != 0,
                    ser: ser.clone(),
                };
                let mut expected = Vec::new();
                message
                    .serialize_with_options(&mut serde_json::Serializer::new(&mut expected), &ser)
                    .unwrap();
                let mut got = Vec::new();
                super::message(message, &options, &mut got).unwrap();
                assert_eq!(
                    String::from_utf8_lossy(&got),
                    String::from_utf8_lossy(&expected),
                    "{} with options {bits:03b}",
                    message.descriptor().full_name()
                );
            }
        }
    }

    #[test]
    fn timestamps_read_as_prost_types_writes_them() {
        // Edges, then a spread over the whole range (a fixed LCG: the same
        // values every run).
        let mut cases = vec![
            (MIN_TIMESTAMP_SECONDS, 0),
            (MAX_TIMESTAMP_SECONDS, 999_999_999),
            (0, 0),
            (-1, 999_999_999),
            (951_782_400, 1_000_000),
            (-139_968_000, 120_000),
            (1_709_208_000, 1),
        ];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let span = (MAX_TIMESTAMP_SECONDS - MIN_TIMESTAMP_SECONDS) as u64;
        for _ in 0..20_000 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            let seconds = MIN_TIMESTAMP_SECONDS + ((state >> 11) % span) as i64;
            let nanos = [0, 5_000_000, 123_000, 7][(state & 3) as usize];
            cases.push((seconds, nanos));
        }
        for (seconds, nanos) in cases {
            let mut got = Vec::new();
            rfc3339(seconds, nanos, &mut got);
            let expected = format!(
                "\"{}\"",
                prost_types::Timestamp {
                    seconds,
                    nanos: nanos as i32
                }
            );
            assert_eq!(String::from_utf8_lossy(&got), expected, "{seconds} {nanos}");
        }
    }

    #[test]
    fn a_timestamp_out_of_range_fails_as_with_prost_reflect() {
        let pool = pool();
        let echo = pool
            .get_message_by_name("gwtest.shapes.v1.EchoRequest")
            .unwrap();
        let mut message = DynamicMessage::new(echo);
        let when = message.get_field_by_name_mut("when").unwrap();
        let Value::Message(when) = when else { panic!() };
        when.set_field_by_number(1, Value::I64(MAX_TIMESTAMP_SECONDS + 1));
        let ser = SerializeOptions::new();
        let options = Options {
            proto_names: false,
            skip_defaults: true,
            enum_numbers: false,
            ser: ser.clone(),
        };
        let mut expected = Vec::new();
        let expected = message
            .serialize_with_options(&mut serde_json::Serializer::new(&mut expected), &ser)
            .unwrap_err();
        let got = super::message(&message, &options, &mut Vec::new()).unwrap_err();
        assert_eq!(got.to_string(), expected.to_string());
    }
}
