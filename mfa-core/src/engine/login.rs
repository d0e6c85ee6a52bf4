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
    /// 2. Usable factors (confirmed, allowed for the cohort): a valid
    ///    trusted-device token completes the login (recorded as weaker than
    ///    a fresh factor); otherwise `ChooseFactor`.
    /// 3. No usable factor: `MustEnroll` when the policy requires MFA or an
    ///    admin reset demands re-enrolment, `OfferEnroll` in the grace
    ///    period, else `Complete`.
    pub async fn begin_login(&self, user: &UserId, ctx: &LoginContext) -> Result<LoginStep, MfaError> {
        let now = self.now();
        let state = self.store.user_state(user).await?;
        if self.config.lockout.is_hard_stopped(state.failures) {
            return Ok(LoginStep::Locked { until: None });
        }
        if let Some(until) = state.locked_until.filter(|&u| now < u) {
            return Ok(LoginStep::Locked { until: Some(until) });
        }

        let policy = self.policy();
        let settings = policy.settings_for(&ctx.audience);
        let factors: Vec<_> = self
            .store
            .factors(user)
            .await?
            .into_iter()
            .filter(|f| f.is_active() && settings.methods.contains(&f.kind))
            .collect();

        if !factors.is_empty() {
            if settings.trust_device
                && let Some(device) = self.trusted_device(user, ctx, state.epoch, now).await?
            {
                self.store.touch_device(user, &device, now).await?;
                self.emit(
                    user,
                    EventKind::TrustedDeviceUsed {
                        device: device.clone(),
                    },
                );
                return Ok(LoginStep::Complete {
                    by: CompletedBy::TrustedDevice { device },
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
            },
        })
    }

    /// The device a trust cookie names, if it is this user's, unrevoked,
    /// unexpired and from the user's current factor epoch.
    async fn trusted_device(
        &self,
        user: &UserId,
        ctx: &LoginContext,
        epoch: u64,
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
        let valid = &device.user == user
            && device.revoked_at.is_none()
            && now < device.expires_at
            && device.epoch == epoch;
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

    /// The policy's forced re-login rule alone (no store access): true when
    /// `audience`'s cut-off has passed and the session predates it.
    pub fn must_relogin(&self, issued_at: Timestamp, audience: &crate::policy::Audience) -> bool {
        self.policy().must_relogin(issued_at, audience, self.now())
    }
}
