//! The components both conformance suites run on, named once: `on_every_broker!(case, ...)` makes
//! a test `<component>::<case>` calling `crate::cases::<case>` with `crate::brokers::<BROKER>`.
//! A new broker is one more line here and one entry in `brokers.rs`.

macro_rules! on_every_broker {
    ($($case:ident),* $(,)?) => {
        on_every_broker!(@brokers [$($case),*]
            in_memory => IN_MEMORY,
            sqlite => SQLITE,
            redis => REDIS,
            jetstream => JETSTREAM,
            rabbitmq => RABBITMQ,
            mqtt3 => MQTT3,
            mqtt3_persistent => MQTT3_PERSISTENT,
            kafka => KAFKA
        );
    };
    (@brokers $cases:tt $($module:ident => $broker:ident),*) => {$(
        mod $module {
            on_every_broker!(@cases $broker $cases);
        }
    )*};
    (@cases $broker:ident [$($case:ident),*]) => {$(
        #[tokio::test(flavor = "multi_thread")]
        async fn $case() {
            crate::cases::$case(&crate::brokers::$broker).await
        }
    )*};
}
