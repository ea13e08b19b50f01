//! benchrig's integration tests: the real binary, real servers on 127.0.0.1, real files. One
//! test binary (`cargo test --release --test main`; `… --test main load::` runs one module), so
//! the helpers in `support` are compiled once and every one of them is used by some test.
//!
//! Adding a file of tests is one line: create tests/NAME.rs (starting with
//! `use crate::support::…`) and add `mod NAME;` below. Cargo.toml sets `autotests = false`, so a
//! file missing here would not be compiled; `every_file_in_tests_is_a_module` catches that. A
//! file written as a binary of its own becomes a module by dropping its `mod support;` and
//! importing `crate::support::…` instead of `support::…`.

mod claims;
mod compare;
mod exit_codes;
mod load;
mod manifests;
mod python;
mod report;
mod retries;
mod run;
mod support;
mod trials;

/// Every `.rs` file and module folder in tests/ is declared above, so none is silently skipped.
#[test]
fn every_file_in_tests_is_a_module() {
    let tests = support::repo_root().join("tests");
    let main = std::fs::read_to_string(tests.join("main.rs")).unwrap();
    for entry in std::fs::read_dir(&tests).unwrap() {
        let path = entry.unwrap().path();
        let name = if path.is_dir() && path.join("mod.rs").is_file() {
            path.file_name()
        } else if path.extension().is_some_and(|e| e == "rs") {
            path.file_stem()
        } else {
            continue;
        };
        let name = name.unwrap().to_str().unwrap();
        if name != "main" {
            assert!(
                main.lines().any(|l| l == format!("mod {name};")),
                "tests/main.rs does not declare `mod {name};`, so {} is not compiled",
                path.display()
            );
        }
    }
}
