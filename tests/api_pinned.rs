//! The demo API is pinned: its description is committed in
//! `tests/api/demo.json`, and a change to the API that would break a caller
//! built against it fails this test (the pattern the README's "Evolving an
//! API" shows for any project). A change that breaks nobody fails too, until
//! the pin is written again with `DOTRPC_BLESS=1`, so that the next change is
//! judged against it.

mod support;

use dotrpc::Description;

const PINNED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/demo.json");

#[test]
fn the_demo_api_keeps_its_callers() {
    let now = support::demo::router().description();
    if std::env::var_os("DOTRPC_BLESS").is_some() {
        let json = serde_json::to_string_pretty(&now).unwrap();
        std::fs::write(PINNED, json + "\n").unwrap();
    }
    let pinned: Description =
        serde_json::from_str(&std::fs::read_to_string(PINNED).unwrap()).unwrap();
    let report = dotrpc::compat::compare(&pinned, &now);
    assert!(
        !report.breaks_older_callers(),
        "the demo API breaks callers built against {PINNED}:\n{report}\
         If that is meant, say so in CHANGELOG.md and write the pin again with DOTRPC_BLESS=1."
    );
    assert!(
        report.changes.is_empty(),
        "the demo API changed without breaking its callers:\n{report}\
         Write the pin again with DOTRPC_BLESS=1."
    );
}
