//! The login decision, and the per-request session check.

use super::*;
use crate::policy::Requirement;
use crate::trust::TrustToken;

impl<S: MfaStore> Mfa<S> {
    /// What a login needs after the password was checked. Every path that
    /// creates a session calls this (login, password reset, registration,
    /// app token refresh) and gets the same answer for first-time and
    /// existing users.
    ///
    /// 1. A locked account is `Locked`.
    /// 2. A user with at least one active factor (of **any** method) gets
    ///    `ChooseFactor` listing all of them, the cohort's methods first;
    ///    a valid trusted-device token of theirs completes the login
    ///    instead (recorded as weaker than a fresh factor). Nothing else
    ///    completes it: not the policy, not the platform or groups the
    ///    client claims (invariants I1 and I4). Cohort `methods` restrict
    ///    what may be *enrolled*; factors the user already has stay usable.
    /// 3. A user with no active factor: `MustEnroll` when the policy
    ///    requires MFA or an admin reset demands re-enrolment,
    ///    `OfferEnroll` in the grace period, else `Complete` with
    ///    [`CompletedBy::NotRequired`].
    pub async fn begin_login(&self, user: &UserId, ctx: &LoginContext) -> Result<LoginStep, MfaError> {
        let now = self.now();
        let state = self.store.user_state(user).await?;
        if let Some(until) = self.lock_state(&state, now) {
            return Ok(LoginStep::Locked { until });
        }

        let policy = self.policy();
        let settings = policy.settings_for(&ctx.audience);
        let mut factors: Vec<_> = self
            .store
            .factors(user)
            .await?
            .into_iter()
            .filter(|f| f.is_active())
            .collect();

        if !factors.is_empty() {
            // The cohort's methods first (a stable sort keeps enrolment
            // order within each group); the rest stay usable (I4).
            factors.sort_by_key(|f| !settings.methods.contains(&f.kind));
            if settings.trust_device
                && let Some(device) = self
                    .trusted_device(user, ctx, state.epoch, settings.trust_for, now)
                    .await?
            {
                self.store.touch_device(user, &device, now).await?;
                self.emit(
                    user,
                    EventKind::TrustedDeviceUsed {
                        device: device.clone(),
                    },
                );
                return Ok(LoginStep::Complete {
                    by: CompletedBy::TrustedDevice,
                    assurance: Assurance::trusted_device(now),
                    device: Some(device),
                });
            }
            return Ok(LoginStep::ChooseFactor {
                factors: factors.iter().map(|f| f.summary()).collect(),
                recovery_codes: self.store.recovery_codes_remaining(user).await? > 0,
                trust_allowed: settings.trust_device,
            });
        }

        let requirement = if state.reenroll_required {
            Requirement::Required
        } else {
            policy.requirement(&ctx.audience, now)
        };
        Ok(match requirement {
            Requirement::Required => LoginStep::MustEnroll {
                methods: settings.methods,
            },
            Requirement::Offered => LoginStep::OfferEnroll {
                methods: settings.methods,
                enforce_from: policy.enforce_from,
            },
            Requirement::NotRequired => LoginStep::Complete {
                by: CompletedBy::NotRequired,
                assurance: Assurance::PasswordOnly,
                device: None,
            },
        })
    }

    /// `Some(until)` when the account is locked now (`until = None`: the
    /// hard stop, until an administrator unlocks).
    pub(super) fn lock_state(
        &self,
        state: &crate::store::UserState,
        now: Timestamp,
    ) -> Option<Option<Timestamp>> {
        if self.config.lockout.is_hard_stopped(state.failures) {
            return Some(None);
        }
        state.locked_until.filter(|&u| now < u).map(Some)
    }

    /// The device a trust cookie names, if it is this user's, unrevoked,
    /// from the user's current factor epoch, and unexpired, where its
    /// expiry is capped by the cohort's current `trust_for` (shortening it
    /// in the policy shortens devices already trusted).
    async fn trusted_device(
        &self,
        user: &UserId,
        ctx: &LoginContext,
        epoch: u64,
        trust_for: std::time::Duration,
        now: Timestamp,
    ) -> Result<Option<crate::ids::DeviceId>, MfaError> {
        let Some(token) = ctx
            .trust_token
            .as_ref()
            .and_then(|t| TrustToken::parse(t.expose()))
        else {
            return Ok(None);
        };
        let Some(device) = self.store.device_by_token(&token.hash(&self.keys)).await? else {
            return Ok(None);
        };
        let expires_at = device.expires_at.min(device.created_at + trust_for);
        let valid =
            &device.user == user && device.revoked_at.is_none() && now < expires_at && device.epoch == epoch;
        Ok(valid.then_some(device.id))
    }

    /// Whether a session issued at `issued_at` for `audience` may go on:
    /// not if the user's sessions were revoked at or after the instant it
    /// was issued (admin reset), nor if its cohort's re-login cut-off has passed. Adapters
    /// call it on each request and end the session when it is not `Valid`.
    pub async fn check_session(
        &self,
        user: &UserId,
        issued_at: Timestamp,
        audience: &crate::policy::Audience,
    ) -> Result<SessionCheck, MfaError> {
        let now = self.now();
        let state = self.store.user_state(user).await?;
        let (check, reason) = if state.sessions_revoked_at.is_some_and(|r| issued_at <= r) {
            (SessionCheck::Revoked, "revoked")
        } else if self.policy().must_relogin(issued_at, audience, now) {
            (SessionCheck::RolloutCutoff, "rollout_cutoff")
        } else {
            return Ok(SessionCheck::Valid);
        };
        self.emit(
            user,
            EventKind::ForcedLogout {
                platform: audience.platform.to_string(),
                reason,
            },
        );
        Ok(check)
    }

    /// [`check_session`](Self::check_session) for a session holding
    /// `assurance`, plus invariant I1 for sessions that outlive a login: a
    /// password-only session (MFA was not required when it began) is
    /// [`SessionCheck::Revoked`] once its user has an active factor, so a
    /// password-holder's session never outlives the user's enrolment.
    /// Costs one more store read for password-only sessions only.
    pub async fn check_login(
        &self,
        user: &UserId,
        issued_at: Timestamp,
        audience: &crate::policy::Audience,
        assurance: &Assurance,
    ) -> Result<SessionCheck, MfaError> {
        let check = self.check_session(user, issued_at, audience).await?;
        if check != SessionCheck::Valid || assurance.is_multi_factor() {
            return Ok(check);
        }
        if self.store.factors(user).await?.iter().any(|f| f.is_active()) {
            self.emit(
                user,
                EventKind::ForcedLogout {
                    platform: audience.platform.to_string(),
                    reason: "enrolled",
                },
            );
            return Ok(SessionCheck::Revoked);
        }
        Ok(SessionCheck::Valid)
    }

    /// The policy's forced re-login rule alone (no store access): true when
    /// `audience`'s cut-off has passed and the session predates it.
    pub fn must_relogin(&self, issued_at: Timestamp, audience: &crate::policy::Audience) -> bool {
        self.policy().must_relogin(issued_at, audience, self.now())
    }
}
