//! JSON on the command line, msgpack on the wire.
//!
//! JSON has no bytes, ext values or non-string keys, so those take tagged
//! forms, read and written the same way:
//!
//! | msgpack | JSON |
//! |---|---|
//! | bin | `{"$bin": "<base64>"}` |
//! | ext | `{"$ext": [type, "<base64>"]}` |
//! | map with a non-string key | the key's JSON text as the key |
//! | NaN, ±infinity | `"NaN"`, `"inf"`, `"-inf"` |

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use dotrpc::Value;
use serde_json::{Map, Number, Value as Json};

/// Parses one command-line argument as JSON.
pub(crate) fn parse_arg(index: usize, text: &str) -> Result<Value, String> {
    let json: Json = serde_json::from_str(text).map_err(|e| {
        format!("argument {index} is not JSON ({e}): {text}; quote strings as '\"text\"'")
    })?;
    to_msgpack(&json).map_err(|e| format!("argument {index}: {e}"))
}

/// Parses a JSON array of arguments (what `-` reads from stdin).
pub(crate) fn parse_arg_array(text: &str) -> Result<Vec<Value>, String> {
    let json: Json = serde_json::from_str(text).map_err(|e| format!("stdin is not JSON: {e}"))?;
    match to_msgpack(&json)? {
        Value::Array(items) => Ok(items),
        _ => Err("stdin must hold a JSON array of arguments".to_owned()),
    }
}

/// JSON to msgpack, reading the tagged forms back into bin and ext values.
pub(crate) fn to_msgpack(json: &Json) -> Result<Value, String> {
    Ok(match json {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Boolean(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Json::String(s) => Value::from(s.as_str()),
        Json::Array(items) => Value::Array(items.iter().map(to_msgpack).collect::<Result<_, _>>()?),
        Json::Object(map) => {
            if let Some(tagged) = tagged(map)? {
                return Ok(tagged);
            }
            Value::Map(
                map.iter()
                    .map(|(k, v)| Ok((Value::from(k.as_str()), to_msgpack(v)?)))
                    .collect::<Result<_, String>>()?,
            )
        }
    })
}

/// `{"$bin": ..}` and `{"$ext": [..]}`, the only one-entry objects that are
/// not maps.
fn tagged(map: &Map<String, Json>) -> Result<Option<Value>, String> {
    let Some((key, value)) = map.iter().next().filter(|_| map.len() == 1) else {
        return Ok(None);
    };
    let decode = |text: &Json| match text {
        Json::String(s) => BASE64
            .decode(s)
            .map_err(|e| format!("{key}: invalid base64: {e}")),
        _ => Err(format!("{key}: expected a base64 string")),
    };
    match key.as_str() {
        "$bin" => Ok(Some(Value::Binary(decode(value)?))),
        "$ext" => match value {
            Json::Array(pair) if pair.len() == 2 => {
                let tag = pair[0]
                    .as_i64()
                    .and_then(|t| i8::try_from(t).ok())
                    .ok_or("$ext: the type must be an integer from -128 to 127")?;
                Ok(Some(Value::Ext(tag, decode(&pair[1])?)))
            }
            _ => Err("$ext: expected [type, \"<base64>\"]".to_owned()),
        },
        _ => Ok(None),
    }
}

/// msgpack to JSON, writing bin and ext values in their tagged forms.
pub(crate) fn to_json(value: &Value) -> Json {
    match value {
        Value::Nil => Json::Null,
        Value::Boolean(b) => Json::Bool(*b),
        Value::Integer(i) => match (i.as_i64(), i.as_u64()) {
            (Some(i), _) => Json::from(i),
            (None, Some(u)) => Json::from(u),
            (None, None) => Json::Null,
        },
        Value::F32(f) => float(f64::from(*f)),
        Value::F64(f) => float(*f),
        Value::String(s) => Json::String(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        Value::Binary(bytes) => single("$bin", Json::String(BASE64.encode(bytes))),
        Value::Ext(tag, data) => single(
            "$ext",
            Json::Array(vec![Json::from(*tag), Json::String(BASE64.encode(data))]),
        ),
        Value::Array(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|(k, v)| (key_text(k), to_json(v)))
                .collect(),
        ),
    }
}

fn float(f: f64) -> Json {
    match Number::from_f64(f) {
        Some(n) => Json::Number(n),
        None if f.is_nan() => Json::from("NaN"),
        None if f > 0.0 => Json::from("inf"),
        None => Json::from("-inf"),
    }
}

fn single(key: &str, value: Json) -> Json {
    Json::Object(Map::from_iter([(key.to_owned(), value)]))
}

fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        other => to_json(other).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_arguments_become_msgpack_values() {
        assert_eq!(parse_arg(1, "42").unwrap(), Value::from(42));
        assert_eq!(parse_arg(1, "-1.5").unwrap(), Value::from(-1.5));
        assert_eq!(
            parse_arg(1, "18446744073709551615").unwrap(),
            Value::from(u64::MAX)
        );
        assert_eq!(parse_arg(1, "\"x\"").unwrap(), Value::from("x"));
        assert_eq!(
            parse_arg(1, r#"{"a": [null, true]}"#).unwrap(),
            Value::Map(vec![(
                Value::from("a"),
                Value::Array(vec![Value::Nil, Value::from(true)])
            )])
        );
    }

    #[test]
    fn bytes_and_ext_values_round_trip_through_their_tags() {
        let value = Value::Array(vec![
            Value::Binary(vec![0, 255]),
            Value::Ext(0, vec![1]),
            Value::Map(vec![(Value::from(1), Value::from("one"))]),
        ]);
        let json = to_json(&value);
        assert_eq!(
            json.to_string(),
            r#"[{"$bin":"AP8="},{"$ext":[0,"AQ=="]},{"1":"one"}]"#
        );
        let back = to_msgpack(&json).unwrap();
        assert_eq!(
            back.as_array().unwrap()[..2],
            value.as_array().unwrap()[..2]
        );
    }

    #[test]
    fn bad_input_is_one_clear_message() {
        assert_eq!(
            parse_arg(2, "hello").unwrap_err(),
            "argument 2 is not JSON (expected value at line 1 column 1): hello; quote strings as '\"text\"'"
        );
        assert_eq!(
            parse_arg(1, r#"{"$bin": "***"}"#).unwrap_err(),
            "argument 1: $bin: invalid base64: Invalid symbol 42, offset 0."
        );
        assert_eq!(
            parse_arg_array("{}").unwrap_err(),
            "stdin must hold a JSON array of arguments"
        );
    }

    #[test]
    fn floats_json_cannot_hold_are_named() {
        assert_eq!(to_json(&Value::from(f64::NAN)), Json::from("NaN"));
        assert_eq!(to_json(&Value::F32(f32::NEG_INFINITY)), Json::from("-inf"));
    }
}
