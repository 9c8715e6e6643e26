//! Criterion micro-benchmarks live in `benches/`; this library is empty so the
//! package has a target `cargo test` can skip (criterion stays out of its build).
//! Run them with `cargo bench -p crmerp-microbench`.
