//! Manifest parsing and validation must never panic, whatever the input: every outcome is a
//! plan or located problems.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match benchrig::manifest::plan_str(text, Path::new("fuzz.yaml"), Path::new(".")) {
        Ok(plan) => {
            // A valid plan renders its commands for any port.
            for variant in &plan.variants {
                let _ = variant.launch(&plan.name, 8080);
            }
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
