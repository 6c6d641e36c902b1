//! The first-party plugins, built from `plugins/` by the build script and embedded.

include!(concat!(env!("OUT_DIR"), "/bundled.rs"));
