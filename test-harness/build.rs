//! Decides at build time which backend suites run, so that a skipped one is reported by
//! `cargo test` as ignored instead of passing by returning early.
//!
//! `run_postgres_tests` / `run_redis_tests` are on when the backend's variable is set, and also
//! when `SWITCHBOARD_TEST_REQUIRE` names the backend without it: those tests then run and fail
//! loudly, as CI wants. The `*_test!` macros of the harness read these switches.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=SWITCHBOARD_TEST_REQUIRE");
    let required = std::env::var("SWITCHBOARD_TEST_REQUIRE").unwrap_or_default();
    for (backend, variable, switch) in [
        (
            "postgres",
            "SWITCHBOARD_TEST_DATABASE_URL",
            "run_postgres_tests",
        ),
        ("redis", "SWITCHBOARD_TEST_REDIS_URL", "run_redis_tests"),
    ] {
        println!("cargo::rerun-if-env-changed={variable}");
        println!("cargo::rustc-check-cfg=cfg({switch})");
        let set = std::env::var(variable).is_ok_and(|value| !value.is_empty());
        let named = required.split(',').any(|name| name.trim() == backend);
        if set || named {
            println!("cargo::rustc-cfg={switch}");
        }
    }
}
