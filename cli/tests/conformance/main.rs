//! The end-to-end part of the conformance suite (its trait-level part is
//! `components/tests/conformance/`): the same cases through real `dapr-rs` sidecars against each
//! component, each component declaring what it guarantees in the shared `brokers.rs`. Run one component's cases with
//! `cargo test -p dapr-rs-cli --test conformance redis::`.

#[path = "../common/mod.rs"]
mod common;

// What each component promises, and which components there are, is declared once, beside the
// components' own conformance suite.
#[macro_use]
#[path = "../../../components/tests/conformance/every_broker.rs"]
mod every_broker;
#[path = "../../../components/tests/conformance/brokers.rs"]
mod brokers;
mod cases;
mod harness;
#[path = "../../../components/tests/conformance/leftovers.rs"]
mod leftovers;

on_every_broker!(
    publish_subscribe,
    app_ids_each_get_every_message_and_instances_share_them,
    one_subscriber_gets_publish_order,
    a_publisher_faster_than_the_app_loses_nothing,
    retry_is_redelivered,
    a_message_in_flight_when_the_sidecar_dies_is_redelivered,
    dropped_messages_go_to_the_dead_letter_topic,
    bulk_publish_and_bulk_subscribe,
    one_mebibyte_payloads_arrive_whole,
    sigterm_with_slow_handlers_in_flight_stops_within_the_grace_period,
);
