//! Compile errors, not runtime surprises: each mistake `#[rpc_api]` rejects
//! has a file in `rpc/tests/ui/fail` and its expected diagnostic beside it;
//! `rpc/tests/ui/pass` must compile cleanly. Regenerate with `TRYBUILD=overwrite`
//! and review the diff: a span that grew to the whole attribute is a bug.

#[test]
fn macro_diagnostics() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/fail/*.rs");
    cases.pass("tests/ui/pass/*.rs");
}
