//! Sending SMS/email codes and verifying any second factor.

use super::*;
use crate::crypto::{HashDomain, ct_eq, random_digits};
use crate::factor::{Destination, FactorKind, Purpose};
use crate::ids::ChallengeId;
use crate::limiter::{Gate, SendDecision};
use crate::oob::{CodeSent, MessageContext, code_hash};
use crate::recovery;
use crate::secret::SecretString;
use crate::store::{AttemptOutcome, ChallengeRecord, DeviceRecord, FactorRecord, ReplaceOutcome};
use crate::totp::{matching_step, parse_code_inline};
use crate::trust::{IssuedTrust, TrustToken, clean_label};

/// What one check of a code found, before the common bookkeeping.
pub(super) struct Proof {
    pub(super) method: FactorKind,
    pub(super) factor: Option<FactorId>,
    pub(super) recovery_left: Option<u32>,
}

impl<S: MfaStore> Mfa<S> {
    /// Sends a code through an SMS/email factor for `purpose` (login or
    /// step-up), replacing any live code for that purpose: the old code
    /// dies, the attempt count carries over. Refused within the resend
    /// cool-down (30 s), past the send caps (per account and per
    /// destination), or when the live challenge has used its attempts.
    /// Switching method mid-login is a `send_code` with another factor.
    pub async fn send_code(
        &self,
        user: &UserId,
        factor: &FactorId,
        purpose: Purpose,
    ) -> Result<CodeSent, MfaError> {
        if purpose == Purpose::Enroll {
            return Err(MfaError::InvalidInput(
                "purpose (enrolment codes come from begin_enrollment)",
            ));
        }
        let f = self
            .store
            .factor(user, factor)
            .await?
            .filter(|f| f.is_active() && f.kind.is_out_of_band())
            .ok_or(MfaError::NotFound)?;
        self.issue_code(user, &f, purpose).await
    }

    /// Creates a challenge for `f` and delivers its code.
    pub(super) async fn issue_code(
        &self,
        user: &UserId,
        f: &FactorRecord,
        purpose: Purpose,
    ) -> Result<CodeSent, MfaError> {
        let now = self.now();
        let sealed = f.destination.as_ref().ok_or(MfaError::SecretUnavailable)?;
        let plain = self.keys.open(sealed, &Self::destination_context(user, &f.id))?;
        let to = std::str::from_utf8(plain.expose()).map_err(|_| MfaError::SecretUnavailable)?;
        let destination = Destination::parse(f.kind, to)?;
        let masked = destination.masked();

        // No codes for a locked account: they could not be used anyway.
        let state = self.store.user_state(user).await?;
        if let Some(until) = self.lock_state(&state, now) {
            return Err(MfaError::Locked { until });
        }

        // A cheap early answer inside the cool-down, so that impatient
        // clicks do not eat into the send caps. The authoritative check is
        // the atomic one in `replace_challenge`.
        if let Some(live) = self.store.live_challenge(user, purpose, now).await? {
            let ready = live.created_at + self.config.resend_cooldown;
            if now < ready {
                return Err(MfaError::RateLimited {
                    retry_after: ready.saturating_since(now),
                });
            }
        }
        let dest_key = f.destination_key.unwrap_or_else(|| {
            self.keys
                .keyed_hash(HashDomain::Destination, &[destination.as_str().as_bytes()])
        });
        if let SendDecision::Refused { retry_after } = self
            .store
            .record_send(user, &dest_key, now, &self.config.sends)
            .await?
        {
            self.emit(user, EventKind::SendRefused { method: f.kind });
            return Err(MfaError::RateLimited { retry_after });
        }

        let id = ChallengeId::generate()?;
        let code = random_digits(self.config.code_digits)?;
        let record = ChallengeRecord {
            id: id.clone(),
            user: user.clone(),
            factor: f.id.clone(),
            kind: f.kind,
            purpose,
            code_hash: code_hash(&self.keys, &id, user, purpose, &code),
            attempts: 0,
            created_at: now,
            expires_at: now + self.config.code_ttl,
            used_at: None,
        };
        let attempts = match self
            .store
            .replace_challenge(&record, self.config.resend_cooldown, self.config.max_attempts)
            .await?
        {
            ReplaceOutcome::Replaced { attempts } => attempts,
            ReplaceOutcome::TooSoon { retry_after } => return Err(MfaError::RateLimited { retry_after }),
            ReplaceOutcome::Exhausted { .. } => return Err(MfaError::ChallengeClosed),
        };

        let text = (self.config.message)(&MessageContext {
            code: &code,
            issuer: &self.config.issuer,
            valid_for: self.config.code_ttl,
            purpose,
            kind: f.kind,
        });
        let message = crate::oob::OutgoingCode {
            user: user.clone(),
            kind: f.kind,
            to: destination.as_str().to_owned(),
            to_masked: masked.clone(),
            subject: format!("Your {} verification code", self.config.issuer),
            text: SecretString::new(text),
            code: SecretString::new(code.to_string()),
            purpose,
            expires_at: record.expires_at,
        };
        self.sender.send(&message).await.map_err(MfaError::Delivery)?;
        self.emit(
            user,
            EventKind::ChallengeSent {
                factor: f.id.clone(),
                method: f.kind,
                purpose,
                to: masked.clone(),
            },
        );
        Ok(CodeSent {
            challenge: id,
            factor: f.id.clone(),
            kind: f.kind,
            to: masked,
            expires_at: record.expires_at,
            resend_at: now + self.config.resend_cooldown,
            attempts_left: self.config.max_attempts.saturating_sub(attempts),
        })
    }

    /// Verifies a second factor for login or step-up.
    ///
    /// Order of checks: the code's shape (a malformed code is refused
    /// without counting), then one attempt is reserved on the account
    /// (refused while locked; counted as a failure until proven good, so
    /// parallel guesses cannot overrun the limit), then the factor's own
    /// check: TOTP window and atomic replay refusal; SMS/email challenge
    /// attempt count, expiry, constant-time keyed-hash compare and single
    /// use; recovery code fingerprint, one Argon2id check and single use.
    /// Any active factor of the user is accepted whatever the audience:
    /// cohort methods restrict enrolment, not the factors a user already
    /// has (invariant I4). Success clears the account's failures and, for
    /// a login that asked to trust the device where the policy allows it,
    /// issues a trust token.
    pub async fn verify(&self, user: &UserId, attempt: &Attempt) -> Result<Verified, MfaError> {
        if attempt.purpose == Purpose::Enroll {
            return Err(MfaError::InvalidInput("purpose (use confirm_enrollment)"));
        }
        let now = self.now();
        let method = match &attempt.target {
            AttemptTarget::Totp(_) => Some(FactorKind::Totp),
            AttemptTarget::RecoveryCode => Some(FactorKind::RecoveryCode),
            AttemptTarget::Challenge(_) => None,
        };
        // Trust needs the epoch as it was *before* this verification, so a
        // reset racing with it leaves the new device invalid.
        let trust_epoch = match (&attempt.trust_device, attempt.purpose) {
            (Some(_), Purpose::Login) if self.policy().settings_for(&attempt.audience).trust_device => {
                Some(self.store.user_state(user).await?.epoch)
            }
            _ => None,
        };

        let result = match &attempt.target {
            AttemptTarget::Totp(factor) => self.verify_totp(user, factor, &attempt.code, now).await,
            AttemptTarget::Challenge(id) => {
                self.verify_challenge(user, id, &attempt.code, attempt.purpose, now)
                    .await
            }
            AttemptTarget::RecoveryCode => self.verify_recovery(user, &attempt.code, now).await,
        };
        let proof = match result {
            Ok(p) => p,
            Err(e) => {
                let reason = e.code();
                if !matches!(e, MfaError::MalformedCode { .. } | MfaError::InvalidInput(_)) {
                    self.emit(
                        user,
                        EventKind::VerifyFailed {
                            method,
                            purpose: attempt.purpose,
                            reason,
                        },
                    );
                }
                return Err(e);
            }
        };

        self.emit(
            user,
            EventKind::VerifySucceeded {
                method: proof.method,
                purpose: attempt.purpose,
            },
        );
        let trust = match (trust_epoch, &attempt.trust_device) {
            (Some(epoch), Some(label)) => Some(
                self.trust_device(user, label, epoch, &attempt.audience, now)
                    .await?,
            ),
            _ => None,
        };
        Ok(Verified {
            method: proof.method,
            factor: proof.factor,
            purpose: attempt.purpose,
            assurance: Assurance::second_factor(now, proof.method),
            trust,
            recovery_codes_left: proof.recovery_left,
        })
    }

    /// Turns a closed gate into the error, and reports a lock that the
    /// failure just started.
    pub(super) fn locked(&self, gate: Gate) -> Result<u32, MfaError> {
        match gate {
            Gate::Open { failures } => Ok(failures),
            Gate::Locked { until } => Err(MfaError::Locked { until }),
        }
    }

    /// Called after a failed check that had reserved attempt number
    /// `failures`: reports the lock it starts, if any.
    pub(super) fn failed(&self, user: &UserId, failures: u32, now: Timestamp) {
        let rules = &self.config.lockout;
        if rules.is_hard_stopped(failures) {
            self.emit(user, EventKind::LockedOut { until: None });
        } else if let Some(d) = rules.lock_after(failures) {
            self.emit(user, EventKind::LockedOut { until: Some(now + d) });
        }
    }

    /// Attempts left before the account back-off starts.
    pub(super) fn account_attempts_left(&self, failures: u32) -> u32 {
        (self.config.lockout.free_failures + 1).saturating_sub(failures)
    }

    async fn verify_totp(
        &self,
        user: &UserId,
        factor: &FactorId,
        input: &SecretString,
        now: Timestamp,
    ) -> Result<Proof, MfaError> {
        let code = parse_code_inline(input.expose(), self.config.totp.digits)?;
        let (gate, record) = self
            .store
            .reserve_and_load_factor(user, factor, now, &self.config.lockout)
            .await?;
        let failures = self.locked(gate)?;
        let Some(f) = record.filter(|f| f.is_active() && f.kind == FactorKind::Totp) else {
            self.failed(user, failures, now);
            return Err(MfaError::NotFound);
        };
        let sealed = f.secret.as_ref().ok_or(MfaError::SecretUnavailable)?;
        let step = self
            .keys
            .open_with(sealed, &Self::seed_context(user, factor), |seed| {
                matching_step(seed, &self.config.totp, code.as_str(), now)
            })??;
        match step {
            Some(step) if self.store.accept_totp_step(user, factor, step, now).await? => Ok(Proof {
                method: FactorKind::Totp,
                factor: Some(factor.clone()),
                recovery_left: None,
            }),
            matched => {
                if matched.is_some() {
                    self.emit(
                        user,
                        EventKind::ReplayRefused {
                            factor: factor.clone(),
                        },
                    );
                }
                self.failed(user, failures, now);
                Err(MfaError::InvalidCode {
                    attempts_left: self.account_attempts_left(failures),
                })
            }
        }
    }

    pub(super) async fn verify_challenge(
        &self,
        user: &UserId,
        id: &ChallengeId,
        input: &SecretString,
        purpose: Purpose,
        now: Timestamp,
    ) -> Result<Proof, MfaError> {
        let code = parse_code_inline(input.expose(), self.config.code_digits)?;
        let max = self.config.max_attempts;
        let (gate, outcome) = self
            .store
            .reserve_and_take_attempt(user, id, now, max, &self.config.lockout)
            .await?;
        let failures = self.locked(gate)?;
        let challenge = match outcome {
            Some(AttemptOutcome::Counted(c)) => c,
            other => {
                self.failed(user, failures, now);
                return Err(match other {
                    Some(AttemptOutcome::Expired) => MfaError::Expired,
                    Some(AttemptOutcome::Closed) => MfaError::ChallengeClosed,
                    _ => MfaError::NotFound,
                });
            }
        };
        // The hash binds challenge, user and purpose: a code issued for any
        // other of them cannot match.
        let expected = code_hash(&self.keys, id, user, purpose, code.as_str());
        if !ct_eq(expected.as_bytes(), challenge.code_hash.as_bytes()) {
            self.failed(user, failures, now);
            return Err(MfaError::InvalidCode {
                attempts_left: max.saturating_sub(challenge.attempts),
            });
        }
        if !self
            .store
            .complete_challenge(user, id, &challenge.factor, now)
            .await?
        {
            // Another request used it first.
            self.failed(user, failures, now);
            return Err(MfaError::ChallengeClosed);
        }
        Ok(Proof {
            method: challenge.kind,
            factor: Some(challenge.factor),
            recovery_left: None,
        })
    }

    async fn verify_recovery(
        &self,
        user: &UserId,
        input: &SecretString,
        now: Timestamp,
    ) -> Result<Proof, MfaError> {
        let code = recovery::normalize(input.expose()).ok_or(MfaError::InvalidInput("recovery code"))?;
        let failures = self.locked(
            self.store
                .reserve_attempt(user, now, &self.config.lockout)
                .await?,
        )?;
        let fingerprint = recovery::fingerprint(&self.keys, user, &code);
        let found = self.store.recovery_code(user, &fingerprint).await?;
        let ok = match &found {
            // Exactly one Argon2id evaluation, and only for the candidate.
            Some(r) => {
                recovery::verify(&self.config.argon2, &code, &r.phc)
                    && self.store.use_recovery_code(user, &r.id, now).await?
            }
            None => false,
        };
        if !ok {
            self.failed(user, failures, now);
            return Err(MfaError::InvalidCode {
                attempts_left: self.account_attempts_left(failures),
            });
        }
        self.store.clear_failures(user).await?;
        let remaining = self.store.recovery_codes_remaining(user).await?;
        self.emit(user, EventKind::RecoveryCodeUsed { remaining });
        Ok(Proof {
            method: FactorKind::RecoveryCode,
            factor: None,
            recovery_left: Some(remaining),
        })
    }

    async fn trust_device(
        &self,
        user: &UserId,
        label: &str,
        epoch: u64,
        audience: &crate::policy::Audience,
        now: Timestamp,
    ) -> Result<IssuedTrust, MfaError> {
        let token = TrustToken::generate()?;
        let settings = self.policy().settings_for(audience);
        let device = DeviceRecord {
            id: crate::ids::DeviceId::generate()?,
            user: user.clone(),
            token_hash: token.hash(&self.keys),
            label: clean_label(label),
            epoch,
            created_at: now,
            last_used_at: None,
            expires_at: now + settings.trust_for,
            revoked_at: None,
        };
        self.store.insert_device(&device).await?;
        self.emit(
            user,
            EventKind::TrustedDeviceAdded {
                device: device.id.clone(),
                label: device.label.clone(),
            },
        );
        Ok(IssuedTrust {
            token,
            device: device.id,
            expires_at: device.expires_at,
        })
    }
}
