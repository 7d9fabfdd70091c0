//! Compile errors, not runtime surprises: each mistake `#[rpc_api]` rejects
//! has a file in `rpc/tests/ui/fail` and its expected diagnostic beside it;
//! `rpc/tests/ui/pass` must compile cleanly. Regenerate with
//! `TRYBUILD=overwrite cargo test --workspace --test ui`, as CI builds it (rustc
//! shortens a type's path only while no other crate in the build has a type
//! of that name, so the expected text depends on the crates built), and
//! review the diff: a span that grew to the whole attribute is a bug.

#[test]
fn macro_diagnostics() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/fail/*.rs");
    cases.pass("tests/ui/pass/*.rs");
}
