//! Misuse of the derives is a compile error that says what to fix. The
//! expected output depends on the compiler, so the cases run on the
//! project's pinned stable toolchain only.

#[rustversion::attr(not(stable(1.95)), ignore = "ui output is pinned to rustc 1.95")]
#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
