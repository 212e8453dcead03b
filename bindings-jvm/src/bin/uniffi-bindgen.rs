//! uniffi's bindgen, pinned to this crate's uniffi version: `make jvm` runs it in library mode
//! on the built cdylib to generate the Kotlin.

fn main() {
    uniffi::uniffi_bindgen_main()
}
