//! Every vector of `tests/vectors/proto_messages.json` round-trips through our generated types,
//! and together the vectors set every field of every message we define — so the interop test
//! against the official Dapr SDKs (`tests/interop/test_proto_wire.py`) leaves nothing unchecked.

#[allow(dead_code)] // shared with the example, which uses all of it
#[path = "../examples/wire_vectors/catalog.rs"]
mod catalog;

use prost_reflect::{DynamicMessage, MessageDescriptor, ReflectMessage, Value};
use std::collections::BTreeSet;

fn dapr_messages(pool: &prost_reflect::DescriptorPool) -> Vec<MessageDescriptor> {
    pool.all_messages().filter(|m| m.full_name().starts_with("dapr.") && !m.is_map_entry()).collect()
}

#[test]
fn every_vector_round_trips_through_the_generated_type() {
    let pool = catalog::descriptor_pool();
    let vectors = catalog::load_vectors().unwrap();
    assert!(!vectors.is_empty());
    for (vector, json) in &vectors {
        let message = catalog::dynamic_message(&pool, vector, json).unwrap();
        let wire = catalog::wire_type(catalog::message_name(vector)).unwrap_or_else(|| panic!("{vector}: no generated type"));
        let bytes = (wire.encode)(&message).unwrap_or_else(|e| panic!("{vector}: {e}"));
        (wire.check)(&message, &bytes).unwrap_or_else(|e| panic!("{vector}: {e}"));
        // Read back by descriptor: a generated type mapped to the wrong name would drop fields here.
        let reread = DynamicMessage::decode(message.descriptor(), bytes.as_slice()).unwrap();
        assert_eq!(reread, message, "{vector}: the generated type loses or changes fields");
    }
}

#[test]
fn hex_round_trips() {
    let bytes = [0x00, 0x0a, 0x7f, 0x80, 0xff];
    assert_eq!(catalog::to_hex(&bytes), "000a7f80ff");
    assert_eq!(catalog::from_hex("000a7f80ff").unwrap(), bytes);
    assert!(catalog::from_hex("abc").is_err());
    assert!(catalog::from_hex("zz").is_err());
}

#[test]
fn every_message_we_define_has_a_generated_type_and_a_vector() {
    let pool = catalog::descriptor_pool();
    let vectors = catalog::load_vectors().unwrap();
    let defined: BTreeSet<String> = dapr_messages(&pool).iter().map(|m| m.full_name().to_string()).collect();
    let typed: BTreeSet<String> = catalog::WIRE_TYPES.iter().map(|t| t.full_name.to_string()).collect();
    let covered: BTreeSet<String> = vectors.keys().map(|v| catalog::message_name(v).to_string()).collect();
    assert_eq!(typed, defined, "WIRE_TYPES must list exactly the messages of our .proto files");
    assert_eq!(covered, defined, "every message needs a vector, and vectors only name our messages");
}

/// Adds the full name of every field set in `message` and in the messages nested in it.
fn collect_set_fields(message: &DynamicMessage, set: &mut BTreeSet<String>) {
    for (field, value) in message.fields() {
        set.insert(field.full_name().to_string());
        let nested: Vec<&Value> = match value {
            Value::List(items) => items.iter().collect(),
            Value::Map(entries) => entries.values().collect(),
            other => vec![other],
        };
        for value in nested {
            if let Value::Message(inner) = value {
                collect_set_fields(inner, set);
            }
        }
    }
}

#[test]
fn the_vectors_set_every_field_of_every_message() {
    let pool = catalog::descriptor_pool();
    let mut set = BTreeSet::new();
    for (vector, json) in catalog::load_vectors().unwrap() {
        collect_set_fields(&catalog::dynamic_message(&pool, &vector, &json).unwrap(), &mut set);
    }
    // An implicit-presence field counts only when it holds a non-default value (enums non-zero).
    let unset: Vec<String> =
        dapr_messages(&pool).iter().flat_map(|m| m.fields()).map(|f| f.full_name().to_string()).filter(|f| !set.contains(f)).collect();
    assert!(unset.is_empty(), "fields no vector sets: {unset:?}");
}
