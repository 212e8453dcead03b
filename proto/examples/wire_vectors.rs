//! Wire vectors for byte compatibility with the official Dapr SDKs (driven by
//! `tests/interop/test_proto_wire.py`).
//!
//! ```text
//! wire_vectors dump        {"<full.Name>#<variant>": "<hex of our encoding>", ...}
//! wire_vectors check FILE  decode the same JSON shape (their encodings) and compare field for field
//! wire_vectors services    our service descriptors, as JSON
//! wire_vectors types       our message fields and enum values, as JSON
//! ```

#[path = "wire_vectors/catalog.rs"]
mod catalog;

use catalog::{Vectors, WireType};
use prost_reflect::{Cardinality, DescriptorPool, FieldDescriptor, Kind};
use serde_json::{Value as Json, json};
use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["dump"] => dump(),
        ["check", file] => check(file),
        ["services"] => Ok(print_json(&services(&catalog::descriptor_pool()))),
        ["types"] => Ok(print_json(&types(&catalog::descriptor_pool()))),
        _ => Err("usage: wire_vectors dump | check FILE | services | types".into()),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("wire_vectors: {e}");
            ExitCode::from(2)
        }
    }
}

fn print_json(value: &Json) -> bool {
    println!("{}", serde_json::to_string_pretty(value).expect("JSON values serialize"));
    true
}

fn wire_type_of(vector: &str) -> Result<&'static WireType, String> {
    let name = catalog::message_name(vector);
    catalog::wire_type(name).ok_or_else(|| format!("{vector}: no generated type for {name}"))
}

fn dump() -> Result<bool, String> {
    let pool = catalog::descriptor_pool();
    let mut out = BTreeMap::new();
    for (vector, json) in catalog::load_vectors()? {
        let message = catalog::dynamic_message(&pool, &vector, &json)?;
        let bytes = (wire_type_of(&vector)?.encode)(&message).map_err(|e| format!("{vector}: {e}"))?;
        out.insert(vector, catalog::to_hex(&bytes));
    }
    Ok(print_json(&json!(out)))
}

/// One line per vector; false on any mismatch, missing or extra name.
fn check(file: &str) -> Result<bool, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
    let theirs: BTreeMap<String, String> = serde_json::from_str(&text).map_err(|e| format!("{file}: {e}"))?;
    let vectors: Vectors = catalog::load_vectors()?;
    let pool = catalog::descriptor_pool();
    let names: BTreeSet<&String> = vectors.keys().chain(theirs.keys()).collect();
    let mut all_ok = true;
    for name in names {
        let verdict = match (vectors.get(name), theirs.get(name)) {
            (Some(json), Some(hex)) => check_one(&pool, name, json, hex),
            (Some(_), None) => Err("missing from the file".into()),
            (None, _) => Err("extra: not a vector in tests/vectors/proto_messages.json".into()),
        };
        match verdict {
            Ok(()) => println!("ok    {name}"),
            Err(e) => {
                all_ok = false;
                println!("FAIL  {name}: {e}");
            }
        }
    }
    Ok(all_ok)
}

fn check_one(pool: &DescriptorPool, vector: &str, json: &Json, hex: &str) -> Result<(), String> {
    let message = catalog::dynamic_message(pool, vector, json)?;
    (wire_type_of(vector)?.check)(&message, &catalog::from_hex(hex)?)
}

/// `{"<full service name>": {"<method>": {"input", "output", "client_streaming", "server_streaming"}}}`.
fn services(pool: &DescriptorPool) -> Json {
    let services: BTreeMap<String, Json> = pool
        .services()
        .map(|service| {
            let methods: BTreeMap<String, Json> = service
                .methods()
                .map(|m| {
                    let signature = json!({
                        "input": m.input().full_name(),
                        "output": m.output().full_name(),
                        "client_streaming": m.is_client_streaming(),
                        "server_streaming": m.is_server_streaming(),
                    });
                    (m.name().to_string(), signature)
                })
                .collect();
            (service.full_name().to_string(), json!(methods))
        })
        .collect();
    json!(services)
}

/// Every `dapr.*` message with its .proto file and fields by number; every `dapr.*` enum's values.
fn types(pool: &DescriptorPool) -> Json {
    let messages: BTreeMap<String, Json> = pool
        .all_messages()
        .filter(|m| m.full_name().starts_with("dapr."))
        .map(|m| {
            let fields: BTreeMap<String, Json> = m.fields().map(|f| (f.number().to_string(), field_json(&f))).collect();
            (m.full_name().to_string(), json!({ "file": m.parent_file().name(), "fields": fields }))
        })
        .collect();
    let enums: BTreeMap<String, Json> = pool
        .all_enums()
        .filter(|e| e.full_name().starts_with("dapr."))
        .map(|e| {
            let values: BTreeMap<String, i32> = e.values().map(|v| (v.name().to_string(), v.number())).collect();
            (e.full_name().to_string(), json!(values))
        })
        .collect();
    json!({ "messages": messages, "enums": enums })
}

/// The facts that decide a field's wire and JSON form: `type` is FieldDescriptorProto.Type.
fn field_json(f: &FieldDescriptor) -> Json {
    let type_name = match f.kind() {
        Kind::Message(m) => m.full_name().to_string(),
        Kind::Enum(e) => e.full_name().to_string(),
        _ => String::new(),
    };
    json!({
        "name": f.name(),
        "json_name": f.json_name(),
        "type": f.field_descriptor_proto().r#type,
        "type_name": type_name,
        "repeated": f.cardinality() == Cardinality::Repeated,
        "has_presence": f.supports_presence(),
        "oneof": f.containing_oneof().map(|o| o.name().to_string()),
    })
}
