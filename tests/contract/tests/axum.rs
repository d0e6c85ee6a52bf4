//! The contract suite against mfa-axum.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod servers;

use mfa_contract_tests::contract_suite;
use servers::axum::AxumServer;

contract_suite!(AxumServer { prefix: "/mfa" });

/// The same contract under another prefix.
mod custom_prefix {
    use super::*;
    contract_suite!(AxumServer {
        prefix: "/auth/second-factor"
    });
}
