//! `MemoryStore`: the whole state behind one mutex, so every method is
//! trivially atomic. For tests, demos and single-process apps that can lose
//! their MFA state on restart.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;

use super::records::*;
use super::{MfaStore, StoreResult};
use crate::clock::Timestamp;
use crate::crypto::{KeyedHash, Sealed};
use crate::error::StoreError;
use crate::factor::{FactorState, Purpose};
use crate::ids::{ChallengeId, DeviceId, FactorId, RecoveryId, UserId};
use crate::limiter::{Gate, LockoutRules, SendDecision, SendRules};
use crate::rules::{self, AttemptRule, LiveChallenge, Reservation, SendCount};

#[derive(Default)]
struct UserData {
    state: UserState,
    factors: Vec<FactorRecord>,
    challenges: Vec<ChallengeRecord>,
    devices: Vec<DeviceRecord>,
    recovery: Vec<RecoveryRecord>,
    sends: Vec<Timestamp>,
}

#[derive(Default)]
struct Inner {
    // BTreeMap so `factor_users` pages in id order.
    users: BTreeMap<UserId, UserData>,
    device_tokens: HashMap<[u8; 32], UserId>,
    destination_sends: HashMap<[u8; 32], Vec<Timestamp>>,
}

impl Inner {
    fn user(&mut self, user: &UserId) -> &mut UserData {
        // Look up before inserting: `entry` would clone the id (allocate)
        // on every call, and most calls find the user.
        if !self.users.contains_key(user) {
            self.users.insert(user.clone(), UserData::default());
        }
        match self.users.get_mut(user) {
            Some(data) => data,
            None => unreachable!("inserted above"),
        }
    }
}

/// `reserve_attempt` on one user's state (see the trait): the rule is
/// [`rules::reserve`]; this only writes its answer back.
fn reserve(s: &mut UserState, now: Timestamp, rules: &LockoutRules) -> Gate {
    let decision = rules::reserve(s.failures, s.locked_until, now, rules);
    if let Reservation::Counted {
        failures,
        locked_until,
    } = decision
    {
        s.failures = failures;
        s.locked_until = locked_until;
    }
    decision.gate()
}

/// `take_attempt` on one user's challenges (see the trait; the rule is
/// [`rules::attempt`]).
fn take(data: &mut UserData, id: &ChallengeId, now: Timestamp, max_attempts: u32) -> AttemptOutcome {
    let Some(c) = data.challenges.iter_mut().find(|c| &c.id == id) else {
        return AttemptOutcome::NotFound;
    };
    match rules::attempt(c.used_at.is_some(), c.attempts, c.expires_at, now, max_attempts) {
        AttemptRule::Closed => AttemptOutcome::Closed,
        AttemptRule::Expired => AttemptOutcome::Expired,
        AttemptRule::Count => {
            c.attempts += 1;
            AttemptOutcome::Counted(c.clone())
        }
    }
}

/// `mark_challenge_used` on one user's data (see the trait): once, and
/// only while the challenge's factor exists.
fn use_challenge(data: &mut UserData, id: &ChallengeId, now: Timestamp) -> bool {
    let UserData {
        factors, challenges, ..
    } = data;
    match challenges.iter_mut().find(|c| &c.id == id) {
        Some(c) if c.used_at.is_none() && factors.iter().any(|f| f.id == c.factor) => {
            c.used_at = Some(now);
            true
        }
        _ => false,
    }
}

fn clear(s: &mut UserState) {
    s.failures = 0;
    s.locked_until = None;
}

/// A thread-safe in-memory [`MfaStore`] with the same atomic guarantees as
/// the database stores (it passes the same `testkit` suite).
///
/// ```
/// use mfa_core::{MemoryStore, MfaStore, UserId};
/// # tokio_test_block_on(async {
/// let store = MemoryStore::new();
/// let state = store.user_state(&UserId::new("u1").unwrap()).await.unwrap();
/// assert_eq!(state.failures, 0);
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryStore")
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-applied change:
        // every method mutates only after all its checks.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn live(c: &ChallengeRecord, now: Timestamp) -> bool {
    rules::challenge_is_live(c.used_at.is_some(), c.expires_at, now)
}

fn revoke_devices(data: &mut UserData, now: Timestamp) -> u64 {
    let mut n = 0;
    for d in data.devices.iter_mut().filter(|d| d.revoked_at.is_none()) {
        if d.expires_at > now {
            n += 1;
        }
        d.revoked_at = Some(now);
    }
    n
}

#[async_trait]
impl MfaStore for MemoryStore {
    async fn user_state(&self, user: &UserId) -> StoreResult<UserState> {
        Ok(self
            .lock()
            .users
            .get(user)
            .map(|u| u.state.clone())
            .unwrap_or_default())
    }

    async fn revoke_sessions(&self, user: &UserId, at: Timestamp) -> StoreResult<()> {
        self.lock().user(user).state.sessions_revoked_at = Some(at);
        Ok(())
    }

    async fn bump_epoch(&self, user: &UserId, now: Timestamp) -> StoreResult<u64> {
        let mut g = self.lock();
        let data = g.user(user);
        data.state.epoch += 1;
        revoke_devices(data, now);
        Ok(data.state.epoch)
    }

    async fn reset_user(&self, user: &UserId, now: Timestamp) -> StoreResult<()> {
        let mut g = self.lock();
        let data = g.user(user);
        let hashes: Vec<[u8; 32]> = data.devices.iter().map(|d| d.token_hash.0).collect();
        data.factors.clear();
        data.challenges.clear();
        data.devices.clear();
        data.recovery.clear();
        data.state = UserState {
            epoch: data.state.epoch + 1,
            failures: 0,
            locked_until: None,
            reenroll_required: true,
            sessions_revoked_at: Some(now),
        };
        for h in hashes {
            g.device_tokens.remove(&h);
        }
        Ok(())
    }

    async fn insert_factor(&self, factor: &FactorRecord) -> StoreResult<()> {
        let mut g = self.lock();
        let data = g.user(&factor.user);
        if data.factors.iter().any(|f| f.id == factor.id) {
            return Err(StoreError::Conflict("factor id"));
        }
        data.factors.push(factor.clone());
        Ok(())
    }

    async fn factor(&self, user: &UserId, id: &FactorId) -> StoreResult<Option<FactorRecord>> {
        let g = self.lock();
        Ok(g.users
            .get(user)
            .and_then(|d| d.factors.iter().find(|f| &f.id == id).cloned()))
    }

    async fn factors(&self, user: &UserId) -> StoreResult<Vec<FactorRecord>> {
        Ok(self
            .lock()
            .users
            .get(user)
            .map(|d| d.factors.clone())
            .unwrap_or_default())
    }

    async fn activate_factor(
        &self,
        user: &UserId,
        id: &FactorId,
        now: Timestamp,
        first: bool,
    ) -> StoreResult<bool> {
        let mut g = self.lock();
        let data = g.user(user);
        let other_active = data.factors.iter().any(|f| &f.id != id && f.is_active());
        if !rules::may_activate(first, other_active) {
            return Ok(false);
        }
        let Some(f) = data
            .factors
            .iter_mut()
            .find(|f| &f.id == id && f.state == FactorState::Pending)
        else {
            return Ok(false);
        };
        f.state = FactorState::Active;
        f.confirmed_at = Some(now);
        data.state.reenroll_required = false;
        Ok(true)
    }

    async fn rename_factor(&self, user: &UserId, id: &FactorId, label: &str) -> StoreResult<bool> {
        let mut g = self.lock();
        match g.user(user).factors.iter_mut().find(|f| &f.id == id) {
            Some(f) => {
                f.label = label.to_owned();
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn delete_factor(&self, user: &UserId, id: &FactorId, now: Timestamp) -> StoreResult<bool> {
        let mut g = self.lock();
        let data = g.user(user);
        let before = data.factors.len();
        data.factors.retain(|f| &f.id != id);
        if data.factors.len() == before {
            return Ok(false);
        }
        data.challenges.retain(|c| &c.factor != id);
        data.state.epoch += 1;
        revoke_devices(data, now);
        Ok(true)
    }

    async fn delete_stale_pending(&self, user: &UserId, before: Timestamp) -> StoreResult<u64> {
        let mut g = self.lock();
        let data = g.user(user);
        let n = data.factors.len();
        data.factors
            .retain(|f| !(f.state == FactorState::Pending && f.created_at < before));
        Ok((n - data.factors.len()) as u64)
    }

    async fn update_sealed(
        &self,
        user: &UserId,
        id: &FactorId,
        secret: Option<&Sealed>,
        destination: Option<&Sealed>,
    ) -> StoreResult<bool> {
        let mut g = self.lock();
        match g.user(user).factors.iter_mut().find(|f| &f.id == id) {
            Some(f) => {
                f.secret = secret.cloned();
                f.destination = destination.cloned();
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn advance_totp_step(
        &self,
        user: &UserId,
        id: &FactorId,
        step: u64,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut g = self.lock();
        match g.user(user).factors.iter_mut().find(|f| &f.id == id) {
            Some(f) if f.last_step.is_none_or(|last| last < step) => {
                f.last_step = Some(step);
                f.last_used_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn touch_factor(&self, user: &UserId, id: &FactorId, now: Timestamp) -> StoreResult<()> {
        let mut g = self.lock();
        if let Some(f) = g.user(user).factors.iter_mut().find(|f| &f.id == id) {
            f.last_used_at = Some(now);
        }
        Ok(())
    }

    async fn factor_users(&self, after: Option<&UserId>, limit: u32) -> StoreResult<Vec<UserId>> {
        let g = self.lock();
        Ok(g.users
            .iter()
            .filter(|(u, d)| after.is_none_or(|a| *u > a) && !d.factors.is_empty())
            .take(limit as usize)
            .map(|(u, _)| u.clone())
            .collect())
    }

    async fn replace_challenge(
        &self,
        challenge: &ChallengeRecord,
        resend_gap: Duration,
        max_attempts: u32,
    ) -> StoreResult<ReplaceOutcome> {
        let now = challenge.created_at;
        let mut g = self.lock();
        let data = g.user(&challenge.user);
        let current = data
            .challenges
            .iter()
            .filter(|c| c.purpose == challenge.purpose && live(c, now))
            .max_by_key(|c| c.created_at)
            .map(|c| LiveChallenge {
                attempts: c.attempts,
                created_at: c.created_at,
                expires_at: c.expires_at,
            });
        let outcome = rules::resend(current, now, resend_gap, max_attempts);
        let ReplaceOutcome::Replaced { attempts } = outcome else {
            return Ok(outcome);
        };
        data.challenges.retain(|c| c.purpose != challenge.purpose);
        let mut fresh = challenge.clone();
        fresh.attempts = attempts;
        data.challenges.push(fresh);
        Ok(outcome)
    }

    async fn take_attempt(
        &self,
        user: &UserId,
        id: &ChallengeId,
        now: Timestamp,
        max_attempts: u32,
    ) -> StoreResult<AttemptOutcome> {
        let mut g = self.lock();
        Ok(take(g.user(user), id, now, max_attempts))
    }

    async fn mark_challenge_used(
        &self,
        user: &UserId,
        id: &ChallengeId,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut g = self.lock();
        Ok(use_challenge(g.user(user), id, now))
    }

    async fn live_challenge(
        &self,
        user: &UserId,
        purpose: Purpose,
        now: Timestamp,
    ) -> StoreResult<Option<ChallengeRecord>> {
        let g = self.lock();
        Ok(g.users.get(user).and_then(|d| {
            d.challenges
                .iter()
                .filter(|c| c.purpose == purpose && live(c, now))
                .max_by_key(|c| c.created_at)
                .cloned()
        }))
    }

    async fn reserve_attempt(
        &self,
        user: &UserId,
        now: Timestamp,
        rules: &LockoutRules,
    ) -> StoreResult<Gate> {
        let mut g = self.lock();
        Ok(reserve(&mut g.user(user).state, now, rules))
    }

    async fn clear_failures(&self, user: &UserId) -> StoreResult<()> {
        let mut g = self.lock();
        clear(&mut g.user(user).state);
        Ok(())
    }

    // The composites, each under one lock (the defaults take it two or
    // three times): same results, one boxed future instead of several.

    async fn reserve_and_load_factor(
        &self,
        user: &UserId,
        factor: &FactorId,
        now: Timestamp,
        rules: &LockoutRules,
    ) -> StoreResult<(Gate, Option<FactorRecord>)> {
        let mut g = self.lock();
        let data = g.user(user);
        let gate = reserve(&mut data.state, now, rules);
        let record = match gate {
            Gate::Open { .. } => data.factors.iter().find(|f| &f.id == factor).cloned(),
            Gate::Locked { .. } => None,
        };
        Ok((gate, record))
    }

    async fn accept_totp_step(
        &self,
        user: &UserId,
        factor: &FactorId,
        step: u64,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut g = self.lock();
        let data = g.user(user);
        match data.factors.iter_mut().find(|f| &f.id == factor) {
            Some(f) if f.last_step.is_none_or(|last| last < step) => {
                f.last_step = Some(step);
                f.last_used_at = Some(now);
                clear(&mut data.state);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn reserve_and_take_attempt(
        &self,
        user: &UserId,
        challenge: &ChallengeId,
        now: Timestamp,
        max_attempts: u32,
        rules: &LockoutRules,
    ) -> StoreResult<(Gate, Option<AttemptOutcome>)> {
        let mut g = self.lock();
        let data = g.user(user);
        let gate = reserve(&mut data.state, now, rules);
        let outcome = match gate {
            Gate::Open { .. } => Some(take(data, challenge, now, max_attempts)),
            Gate::Locked { .. } => None,
        };
        Ok((gate, outcome))
    }

    async fn complete_challenge(
        &self,
        user: &UserId,
        challenge: &ChallengeId,
        factor: &FactorId,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut g = self.lock();
        let data = g.user(user);
        if !use_challenge(data, challenge, now) {
            return Ok(false);
        }
        clear(&mut data.state);
        if let Some(f) = data.factors.iter_mut().find(|f| &f.id == factor) {
            f.last_used_at = Some(now);
        }
        Ok(true)
    }

    async fn record_send(
        &self,
        user: &UserId,
        destination: &KeyedHash,
        now: Timestamp,
        rules: &SendRules,
    ) -> StoreResult<SendDecision> {
        let since = rules::send_window_start(now, rules);
        let mut g = self.lock();
        let mut by_dest = g.destination_sends.remove(&destination.0).unwrap_or_default();
        by_dest.retain(|&t| t > since);
        let data = g.user(user);
        data.sends.retain(|&t| t > since);
        let count = |sends: &[Timestamp]| SendCount {
            count: sends.len() as u64,
            oldest: sends.iter().copied().min(),
        };
        let decision = rules::send(count(&data.sends), count(&by_dest), now, rules);
        if decision == SendDecision::Allowed {
            data.sends.push(now);
            by_dest.push(now);
        }
        g.destination_sends.insert(destination.0, by_dest);
        Ok(decision)
    }

    async fn insert_device(&self, device: &DeviceRecord) -> StoreResult<()> {
        let mut g = self.lock();
        if g.device_tokens.contains_key(&device.token_hash.0) {
            return Err(StoreError::Conflict("device token"));
        }
        g.device_tokens.insert(device.token_hash.0, device.user.clone());
        g.user(&device.user).devices.push(device.clone());
        Ok(())
    }

    async fn device_by_token(&self, hash: &KeyedHash) -> StoreResult<Option<DeviceRecord>> {
        let g = self.lock();
        let Some(user) = g.device_tokens.get(&hash.0) else {
            return Ok(None);
        };
        Ok(g.users
            .get(user)
            .and_then(|d| d.devices.iter().find(|d| d.token_hash.ct_matches(hash)).cloned()))
    }

    async fn touch_device(&self, user: &UserId, id: &DeviceId, now: Timestamp) -> StoreResult<()> {
        let mut g = self.lock();
        if let Some(d) = g.user(user).devices.iter_mut().find(|d| &d.id == id) {
            d.last_used_at = Some(now);
        }
        Ok(())
    }

    async fn devices(&self, user: &UserId, now: Timestamp) -> StoreResult<Vec<DeviceRecord>> {
        let g = self.lock();
        let mut out: Vec<DeviceRecord> = g
            .users
            .get(user)
            .map(|d| {
                d.devices
                    .iter()
                    .filter(|d| d.revoked_at.is_none() && d.expires_at > now)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by_key(|d| std::cmp::Reverse(d.created_at));
        Ok(out)
    }

    async fn revoke_device(&self, user: &UserId, id: &DeviceId, now: Timestamp) -> StoreResult<bool> {
        let mut g = self.lock();
        match g
            .user(user)
            .devices
            .iter_mut()
            .find(|d| &d.id == id && d.revoked_at.is_none() && d.expires_at > now)
        {
            Some(d) => {
                d.revoked_at = Some(now);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn revoke_all_devices(&self, user: &UserId, now: Timestamp) -> StoreResult<u64> {
        let mut g = self.lock();
        Ok(revoke_devices(g.user(user), now))
    }

    async fn replace_recovery_codes(&self, user: &UserId, codes: &[RecoveryRecord]) -> StoreResult<()> {
        let mut g = self.lock();
        g.user(user).recovery = codes.to_vec();
        Ok(())
    }

    async fn recovery_code(
        &self,
        user: &UserId,
        fingerprint: &KeyedHash,
    ) -> StoreResult<Option<RecoveryRecord>> {
        let g = self.lock();
        Ok(g.users.get(user).and_then(|d| {
            d.recovery
                .iter()
                .find(|r| r.used_at.is_none() && r.fingerprint.ct_matches(fingerprint))
                .cloned()
        }))
    }

    async fn use_recovery_code(&self, user: &UserId, id: &RecoveryId, now: Timestamp) -> StoreResult<bool> {
        let mut g = self.lock();
        match g
            .user(user)
            .recovery
            .iter_mut()
            .find(|r| &r.id == id && r.used_at.is_none())
        {
            Some(r) => {
                r.used_at = Some(now);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn recovery_codes_remaining(&self, user: &UserId) -> StoreResult<u32> {
        let g = self.lock();
        Ok(g.users
            .get(user)
            .map(|d| d.recovery.iter().filter(|r| r.used_at.is_none()).count() as u32)
            .unwrap_or(0))
    }
}
