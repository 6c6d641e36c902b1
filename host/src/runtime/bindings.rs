//! Host-side bindings of the `chatops:plugin@0.1.0` world.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "chatops:plugin/plugin@0.1.0",
    imports: { default: async | trappable },
    exports: { default: async },
    require_store_data_send: true,
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
    },
    additional_derives: [serde::Serialize, PartialEq],
});
