//! Managing a user's MFA: factors, trusted devices, recovery codes, the
//! contact team's reset, password changes, key rotation.

use super::*;
use crate::factor::{FactorSummary, validate_label};
use crate::ids::{DeviceId, RecoveryId};
use crate::recovery::{self, RecoveryCodes};
use crate::store::RecoveryRecord;
use crate::trust::TrustedDevice;

impl<S: MfaStore> Mfa<S> {
    /// The user's confirmed factors.
    pub async fn factors(&self, user: &UserId) -> Result<Vec<FactorSummary>, MfaError> {
        Ok(self
            .store
            .factors(user)
            .await?
            .iter()
            .filter(|f| f.is_active())
            .map(|f| f.summary())
            .collect())
    }

    /// Factors, recovery codes left, trusted devices, lock state.
    pub async fn status(&self, user: &UserId) -> Result<MfaStatus, MfaError> {
        let now = self.now();
        let state = self.store.user_state(user).await?;
        let locked = if self.config.lockout.is_hard_stopped(state.failures) {
            Some(None)
        } else {
            state.locked_until.filter(|&u| now < u).map(Some)
        };
        Ok(MfaStatus {
            factors: self.factors(user).await?,
            recovery_codes_left: self.store.recovery_codes_remaining(user).await?,
            trusted_devices: self.store.devices(user, now).await?.len(),
            reenroll_required: state.reenroll_required,
            locked,
        })
    }

    /// Renames a factor. Needs a fresh second factor.
    pub async fn rename_factor(
        &self,
        user: &UserId,
        factor: &FactorId,
        label: &str,
        caller: &Caller,
    ) -> Result<(), MfaError> {
        self.require_fresh(caller)?;
        let label = validate_label(label)?;
        if !self.store.rename_factor(user, factor, &label).await? {
            return Err(MfaError::NotFound);
        }
        self.emit(
            user,
            EventKind::FactorRenamed {
                factor: factor.clone(),
            },
        );
        Ok(())
    }

    /// Removes a factor. Needs a fresh second factor; revokes every trusted
    /// device (their trust was granted under the old set of factors) and
    /// notifies the user. Removing the last factor is allowed: the policy
    /// then asks for enrolment at the next login.
    pub async fn remove_factor(
        &self,
        user: &UserId,
        factor: &FactorId,
        caller: &Caller,
    ) -> Result<(), MfaError> {
        self.require_fresh(caller)?;
        let f = self.store.factor(user, factor).await?.ok_or(MfaError::NotFound)?;
        if !self.store.delete_factor(user, factor, self.now()).await? {
            return Err(MfaError::NotFound);
        }
        self.emit(
            user,
            EventKind::FactorRemoved {
                factor: factor.clone(),
                method: f.kind,
            },
        );
        Ok(())
    }

    /// Generates a new set of recovery codes, replacing the old set. Needs a
    /// fresh second factor and at least one confirmed factor. Show the
    /// codes once; only Argon2id hashes are kept.
    pub async fn generate_recovery_codes(
        &self,
        user: &UserId,
        caller: &Caller,
    ) -> Result<RecoveryCodes, MfaError> {
        self.require_fresh(caller)?;
        if self.factors(user).await?.is_empty() {
            return Err(MfaError::NotEnrolled);
        }
        let now = self.now();
        let mut codes = Vec::new();
        let mut records = Vec::new();
        for _ in 0..self.config.recovery_codes {
            let code = recovery::generate()?;
            let normalized = recovery::normalize(code.expose()).ok_or(MfaError::Random)?;
            records.push(RecoveryRecord {
                id: RecoveryId::generate()?,
                user: user.clone(),
                fingerprint: recovery::fingerprint(&self.keys, user, &normalized),
                phc: recovery::hash(&self.config.argon2, &normalized)?,
                created_at: now,
                used_at: None,
            });
            codes.push(code);
        }
        self.store.replace_recovery_codes(user, &records).await?;
        self.emit(
            user,
            EventKind::RecoveryCodesGenerated {
                count: self.config.recovery_codes,
            },
        );
        Ok(RecoveryCodes { codes })
    }

    /// The user's live trusted devices, newest first.
    pub async fn trusted_devices(&self, user: &UserId) -> Result<Vec<TrustedDevice>, MfaError> {
        Ok(self
            .store
            .devices(user, self.now())
            .await?
            .iter()
            .map(TrustedDevice::from)
            .collect())
    }

    /// Revokes one trusted device ("this isn't me" needs no step-up).
    pub async fn revoke_device(&self, user: &UserId, device: &DeviceId) -> Result<(), MfaError> {
        if !self.store.revoke_device(user, device, self.now()).await? {
            return Err(MfaError::NotFound);
        }
        self.emit(
            user,
            EventKind::TrustedDeviceRevoked {
                device: Some(device.clone()),
                count: 1,
            },
        );
        Ok(())
    }

    /// Revokes all of the user's trusted devices; returns how many.
    pub async fn revoke_all_devices(&self, user: &UserId) -> Result<u64, MfaError> {
        let count = self.store.revoke_all_devices(user, self.now()).await?;
        self.emit(user, EventKind::TrustedDeviceRevoked { device: None, count });
        Ok(count)
    }

    /// The application changed or reset the user's password: the one call
    /// that does everything a password change must. Every trusted device is
    /// revoked (the epoch moves on, so even a device trusted by a
    /// verification racing with this call is invalid), every session of the
    /// user issued until now ends (see [`check_session`](Self::check_session)),
    /// and [`EventKind::PasswordChanged`] is emitted. Returns the instant
    /// of the revocation; a session the application keeps for the user
    /// (the one that changed the password) must be re-issued after it
    /// (`mfa_core::http::password_changed` does that).
    pub async fn password_changed(&self, user: &UserId) -> Result<Timestamp, MfaError> {
        let now = self.now();
        self.store.bump_epoch(user, now).await?;
        self.store.revoke_sessions(user, now).await?;
        self.emit(user, EventKind::PasswordChanged);
        Ok(now)
    }

    /// Ends every session of the user issued until now (see
    /// [`check_session`](Self::check_session)). Emits
    /// [`EventKind::SessionsRevoked`].
    pub async fn revoke_sessions(&self, user: &UserId) -> Result<(), MfaError> {
        self.store.revoke_sessions(user, self.now()).await?;
        self.emit(user, EventKind::SessionsRevoked);
        Ok(())
    }

    /// The contact team's reset ("contact us and we can reset your MFA"):
    /// every factor, recovery code, challenge and trusted device of the
    /// user is removed, failures cleared, sessions revoked, and the user
    /// must enrol again at the next login whatever the policy. The actor
    /// never sees or chooses a secret. Audited and notified.
    pub async fn admin_reset(&self, user: &UserId, actor: &str) -> Result<(), MfaError> {
        self.store.reset_user(user, self.now()).await?;
        self.emit(
            user,
            EventKind::AdminReset {
                actor: actor.chars().take(128).collect(),
            },
        );
        Ok(())
    }

    /// Lifts a back-off or hard stop without touching factors. Audited.
    pub async fn admin_unlock(&self, user: &UserId, actor: &str) -> Result<(), MfaError> {
        self.store.clear_failures(user).await?;
        self.emit(
            user,
            EventKind::AdminUnlock {
                actor: actor.chars().take(128).collect(),
            },
        );
        Ok(())
    }

    /// Re-seals every stored secret not on the current key or not in the
    /// current [`Sealed`](crate::Sealed) format. Run it after adding a new
    /// current key (or upgrading from format 1), then drop the old key from the ring once
    /// the report shows nothing `unreadable`.
    pub async fn rotate_secrets(&self) -> Result<RotationReport, MfaError> {
        let mut report = RotationReport::default();
        let current = self.keys.current_key_id();
        let mut after: Option<UserId> = None;
        loop {
            let users = self.store.factor_users(after.as_ref(), 100).await?;
            let Some(last) = users.last().cloned() else { break };
            for user in &users {
                for f in self.store.factors(user).await? {
                    let stale = |s: &Option<crate::crypto::Sealed>| {
                        s.as_ref().is_some_and(|s| !s.is_current(current))
                    };
                    if !stale(&f.secret) && !stale(&f.destination) {
                        report.current += 1;
                        continue;
                    }
                    let reseal = |s: &Option<crate::crypto::Sealed>,
                                  ctx: Vec<u8>|
                     -> Result<Option<crate::crypto::Sealed>, MfaError> {
                        match s {
                            Some(s) => Ok(Some(self.keys.seal(self.keys.open(s, &ctx)?.expose(), &ctx)?)),
                            None => Ok(None),
                        }
                    };
                    let secret = reseal(&f.secret, Self::seed_context(user, &f.id));
                    let destination = reseal(&f.destination, Self::destination_context(user, &f.id));
                    match (secret, destination) {
                        (Ok(secret), Ok(destination)) => {
                            self.store
                                .update_sealed(user, &f.id, secret.as_ref(), destination.as_ref())
                                .await?;
                            report.resealed += 1;
                        }
                        _ => report.unreadable += 1,
                    }
                }
            }
            after = Some(last);
        }
        self.emit_system(EventKind::SecretsRotated {
            resealed: report.resealed,
            unreadable: report.unreadable,
        });
        Ok(report)
    }
}
