//! One conformance suite for every pub/sub component, as Dapr's components-contrib has one: the
//! same cases driven through the `PubSub` trait against each component, each component declaring
//! what it guarantees in `brokers.rs`. What needs a sidecar (dead letter, bulk, a sidecar that
//! dies, SIGTERM) is checked end to end in `cli/tests/conformance/`. Run one component's cases
//! with `cargo test -p dapr-rs-components --test conformance redis::`.

#[macro_use]
mod every_broker;
mod brokers;
mod cases;
mod harness;
mod leftovers;

on_every_broker!(
    publish_subscribe,
    groups_each_get_every_message_and_members_share_them,
    one_subscriber_gets_publish_order,
    a_message_not_processed_is_delivered_again,
    a_group_gets_what_was_published_while_it_had_no_subscriber,
    a_stop_ends_within_its_grace_and_what_was_held_comes_back,
    large_messages_arrive_whole_or_are_refused,
    a_bulk_publish_answers_each_entry,
    many_topics_each_get_their_own_messages,
    shared_slots_bound_handler_calls_in_flight,
);
