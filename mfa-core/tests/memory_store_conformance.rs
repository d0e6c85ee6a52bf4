//! The store conformance suite on `MemoryStore`.

async fn fresh() -> mfa_core::MemoryStore {
    mfa_core::MemoryStore::new()
}

mfa_core::store_conformance_tests!(fresh);
