//! The contract suite against mfa-axum.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod servers;

use mfa_contract_tests::contract_suite;
use servers::axum::AxumServer;

contract_suite!(AxumServer::new("/mfa"));

/// The race scenarios again, on a store that yields and takes a
/// millisecond at every call, so the racing requests interleave inside one
/// verification (and fail if they never did).
mod yielding_store {
    use super::*;
    use crate::servers::Store;
    mfa_contract_tests::race_suite!(|seen| AxumServer {
        prefix: "/mfa",
        store: Store::Yielding(seen),
    });
}

/// The same contract under another prefix.
mod custom_prefix {
    use super::*;
    contract_suite!(AxumServer::new("/auth/second-factor"));
}
