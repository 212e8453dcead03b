//! Conversions between `google.protobuf.Struct` (CloudEvent extensions on the wire) and JSON.

use prost_types::{ListValue, Struct, Value, value::Kind};
use serde_json::{Map, Number, Value as Json};

pub fn json_map_to_struct(map: &Map<String, Json>) -> Struct {
    Struct { fields: map.iter().map(|(k, v)| (k.clone(), json_to_value(v))).collect() }
}

pub fn struct_to_json_map(s: &Struct) -> Map<String, Json> {
    s.fields.iter().map(|(k, v)| (k.clone(), value_to_json(v))).collect()
}

pub fn json_to_value(v: &Json) -> Value {
    let kind = match v {
        Json::Null => Kind::NullValue(0),
        Json::Bool(b) => Kind::BoolValue(*b),
        Json::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(f64::NAN)),
        Json::String(s) => Kind::StringValue(s.clone()),
        Json::Array(a) => Kind::ListValue(ListValue { values: a.iter().map(json_to_value).collect() }),
        Json::Object(o) => Kind::StructValue(json_map_to_struct(o)),
    };
    Value { kind: Some(kind) }
}

pub fn value_to_json(v: &Value) -> Json {
    match &v.kind {
        None | Some(Kind::NullValue(_)) => Json::Null,
        Some(Kind::BoolValue(b)) => Json::Bool(*b),
        Some(Kind::NumberValue(n)) => number_to_json(*n),
        Some(Kind::StringValue(s)) => Json::String(s.clone()),
        Some(Kind::ListValue(l)) => Json::Array(l.values.iter().map(value_to_json).collect()),
        Some(Kind::StructValue(s)) => Json::Object(struct_to_json_map(s)),
    }
}

/// Whole numbers come back as integers, so `1` does not turn into `1.0`.
fn number_to_json(n: f64) -> Json {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Json::Number(Number::from(n as i64))
    } else {
        Number::from_f64(n).map(Json::Number).unwrap_or(Json::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_nested_values() {
        let j: Json = serde_json::json!({"a": 1, "b": [true, null, "x"], "c": {"d": 1.5}});
        let s = json_map_to_struct(j.as_object().unwrap());
        assert_eq!(Json::Object(struct_to_json_map(&s)), j);
    }
}
