//! Bench only: `benches/bool_value.rs` times the client's `bool_value` and Unleash's engine
//! (`unleash-yggdrasil` 0.18.1, the version Unleash Edge 20.1.0 embeds) on the same 200-flag
//! set, in one process, so that the two figures are a same-run ratio. Nothing depends on this
//! crate; the engine stays out of every other build.
