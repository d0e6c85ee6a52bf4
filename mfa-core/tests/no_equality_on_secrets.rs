//! Constant-time comparison cannot regress into `==`: no type holding a
//! secret, a code hash, a token or a token digest implements `PartialEq`
//! (or `Hash`), so the only way to compare them is `crypto::ct_eq` /
//! `KeyedHash::ct_matches` (both `subtle`). This file fails to compile if
//! anyone derives either again.
#![allow(missing_docs)]

use mfa_core::store::{AttemptOutcome, ChallengeRecord, DeviceRecord, FactorRecord, RecoveryRecord};
use mfa_core::{
    IssuedTrust, KeyedHash, OutgoingCode, RecoveryCodes, Sealed, SecretBytes, SecretString, TrustToken,
};
use static_assertions::assert_not_impl_any;

assert_not_impl_any!(KeyedHash: PartialEq, Eq, std::hash::Hash, PartialOrd);
assert_not_impl_any!(Sealed: PartialEq, Eq, std::hash::Hash);
assert_not_impl_any!(SecretString: PartialEq, Eq, std::hash::Hash);
assert_not_impl_any!(SecretBytes: PartialEq, Eq, std::hash::Hash);
assert_not_impl_any!(TrustToken: PartialEq, Eq, std::hash::Hash);
assert_not_impl_any!(IssuedTrust: PartialEq, Eq);
assert_not_impl_any!(RecoveryCodes: PartialEq, Eq);
assert_not_impl_any!(OutgoingCode: PartialEq, Eq);
assert_not_impl_any!(FactorRecord: PartialEq, Eq);
assert_not_impl_any!(ChallengeRecord: PartialEq, Eq);
assert_not_impl_any!(DeviceRecord: PartialEq, Eq);
assert_not_impl_any!(RecoveryRecord: PartialEq, Eq);
assert_not_impl_any!(AttemptOutcome: PartialEq, Eq);

/// The one comparison: equal bytes match, any difference does not.
#[test]
fn keyed_hashes_compare_only_in_constant_time() {
    let a = KeyedHash([7; 32]);
    let mut other = [7; 32];
    assert!(a.ct_matches(&KeyedHash(other)));
    other[31] ^= 1;
    assert!(!a.ct_matches(&KeyedHash(other)));
    assert!(mfa_core::crypto::ct_eq(b"abc", b"abc"));
    assert!(!mfa_core::crypto::ct_eq(b"abc", b"abd"));
    assert!(!mfa_core::crypto::ct_eq(b"abc", b"abcd"));
}
