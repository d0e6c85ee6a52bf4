//! The contract suite against mfa-actix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod servers;

use mfa_contract_tests::contract_suite;
use servers::actix::ActixServer;

contract_suite!(ActixServer { prefix: "/mfa" });

/// The same contract under another prefix.
mod custom_prefix {
    use super::*;
    contract_suite!(ActixServer {
        prefix: "/auth/second-factor"
    });
}
