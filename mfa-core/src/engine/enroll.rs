//! Enrolling a factor: start (secret or destination), then confirm with a
//! correct code.

use super::*;
use crate::crypto::HashDomain;
use crate::factor::{Destination, FactorKind, FactorState, Purpose, validate_label};
use crate::ids::ChallengeId;
use crate::secret::{SecretBytes, SecretString};
use crate::store::FactorRecord;
use crate::totp::{TotpEnrollment, matching_step, new_secret, parse_code, provisioning_uri, qr_png, qr_svg};

/// Unfinished enrolments a user may have at once (five); starting another drops
/// the oldest (a page reload must never lock anyone out of enrolling).
const MAX_PENDING: usize = 5;

impl<S: MfaStore> Mfa<S> {
    /// Starts enrolling a factor.
    ///
    /// - The method must be allowed for the caller's cohort.
    /// - A user who already has a confirmed factor needs a fresh second
    ///   factor (step-up) to add another (ASVS 6.3.7 / 7.5.1); a user with
    ///   none (first enrolment, or after an admin reset) needs only the
    ///   password, which is how a pending `MustEnroll` session gets a factor.
    /// - TOTP: a 160-bit seed is generated and stored sealed; the answer
    ///   carries the otpauth URI and QR codes. SMS/email: the destination
    ///   is validated and stored sealed, and a code is sent to it.
    ///
    /// Nothing is usable until [`confirm_enrollment`](Self::confirm_enrollment).
    pub async fn begin_enrollment(
        &self,
        user: &UserId,
        request: EnrollRequest,
        caller: &Caller,
    ) -> Result<Enrollment, MfaError> {
        let now = self.now();
        let kind = match &request {
            EnrollRequest::Totp { .. } => FactorKind::Totp,
            EnrollRequest::Sms { .. } => FactorKind::Sms,
            EnrollRequest::Email { .. } => FactorKind::Email,
        };
        if !self
            .policy()
            .settings_for(&caller.audience)
            .methods
            .contains(&kind)
        {
            return Err(MfaError::MethodNotAllowed(kind));
        }
        self.store
            .delete_stale_pending(user, now - self.config.pending_enrollment_ttl)
            .await?;
        let existing = self.store.factors(user).await?;
        let active = existing.iter().filter(|f| f.is_active()).count();
        if active > 0 {
            self.require_fresh(caller)?;
        }
        if active >= self.config.max_factors {
            return Err(MfaError::InvalidInput("factor count (remove one first)"));
        }
        // Pending enrolments are bounded without locking the user out: past
        // the bound the oldest unfinished ones make way for this one.
        let pending: Vec<_> = existing.iter().filter(|f| !f.is_active()).collect();
        if pending.len() >= MAX_PENDING
            && let Some(oldest) = pending
                .iter()
                .map(|f| f.created_at)
                .nth(pending.len() - MAX_PENDING)
        {
            self.store
                .delete_stale_pending(user, oldest + std::time::Duration::from_millis(1))
                .await?;
        }

        let id = FactorId::generate()?;
        let mut record = FactorRecord {
            id: id.clone(),
            user: user.clone(),
            kind,
            label: String::new(),
            state: FactorState::Pending,
            secret: None,
            destination: None,
            masked: None,
            destination_key: None,
            last_step: None,
            created_at: now,
            confirmed_at: None,
            last_used_at: None,
        };
        match request {
            EnrollRequest::Totp { label, account_name } => {
                record.label = validate_label(&label)?;
                let seed = new_secret()?;
                let uri = provisioning_uri(
                    seed.expose(),
                    &self.config.totp,
                    &self.config.issuer,
                    &account_name,
                )?;
                record.secret = Some(self.keys.seal(seed.expose(), &Self::seed_context(user, &id))?);
                let setup = TotpEnrollment {
                    factor: id,
                    secret_base32: SecretString::new(base32::encode(
                        base32::Alphabet::Rfc4648 { padding: false },
                        seed.expose(),
                    )),
                    qr_svg: SecretString::new(qr_svg(uri.expose())?),
                    qr_png: SecretBytes::new(qr_png(uri.expose())?),
                    otpauth_uri: uri,
                };
                self.store.insert_factor(&record).await?;
                Ok(Enrollment::Totp(setup))
            }
            EnrollRequest::Sms { label, phone: text } | EnrollRequest::Email { label, address: text } => {
                record.label = validate_label(&label)?;
                let destination = Destination::parse(kind, &text)?;
                record.destination = Some(self.keys.seal(
                    destination.as_str().as_bytes(),
                    &Self::destination_context(user, &id),
                )?);
                record.masked = Some(destination.masked());
                record.destination_key = Some(
                    self.keys
                        .keyed_hash(HashDomain::Destination, &[destination.as_str().as_bytes()]),
                );
                self.store.insert_factor(&record).await?;
                let sent = self.issue_code(user, &record, Purpose::Enroll).await?;
                Ok(Enrollment::OutOfBand(sent))
            }
        }
    }

    /// Sends a new enrolment code for a pending SMS/email factor ("I didn't
    /// get a code"), under the same cool-down and caps as a login code.
    pub async fn resend_enrollment_code(
        &self,
        user: &UserId,
        factor: &FactorId,
    ) -> Result<crate::oob::CodeSent, MfaError> {
        let f = self.pending_factor(user, factor).await?;
        if !f.kind.is_out_of_band() {
            return Err(MfaError::NotFound);
        }
        self.issue_code(user, &f, Purpose::Enroll).await
    }

    async fn pending_factor(&self, user: &UserId, factor: &FactorId) -> Result<FactorRecord, MfaError> {
        let cutoff = self.now() - self.config.pending_enrollment_ttl;
        self.store
            .factor(user, factor)
            .await?
            .filter(|f| f.state == FactorState::Pending && f.created_at >= cutoff)
            .ok_or(MfaError::NotFound)
    }

    /// Confirms a pending factor with a code from it: for TOTP a code from
    /// the app (window and replay rules as for login), for SMS/email the
    /// code just sent. Attempts count against the account like any other.
    /// On success the factor is active, re-enrolment demanded by an admin
    /// reset is satisfied, and the returned assurance counts as a fresh
    /// second factor.
    pub async fn confirm_enrollment(
        &self,
        user: &UserId,
        factor: &FactorId,
        code: &str,
    ) -> Result<Enrolled, MfaError> {
        let now = self.now();
        let f = self.pending_factor(user, factor).await?;
        // An enrolment that began while the user had no active factor was
        // not stepped up. If a factor was confirmed since, that basis is
        // gone: the new factor must be added again with a fresh second
        // factor (a password-holder racing the real user's first
        // enrolment). A confirmation seen here is refused early; one that
        // races this call is refused by `activate_factor(.., first)`, which
        // checks "still no other active factor" atomically.
        let others: Vec<FactorRecord> = self
            .store
            .factors(user)
            .await?
            .into_iter()
            .filter(|g| g.id != f.id && g.is_active())
            .collect();
        if others
            .iter()
            .any(|g| g.confirmed_at.is_some_and(|c| c > f.created_at))
        {
            return Err(MfaError::StepUpRequired);
        }
        if others.len() >= self.config.max_factors {
            return Err(MfaError::InvalidInput("factor count (remove one first)"));
        }
        let first = others.is_empty();
        let input = SecretString::new(code.to_owned());
        match f.kind {
            FactorKind::Totp => {
                let code = parse_code(input.expose(), self.config.totp.digits)?;
                let failures = match self
                    .store
                    .reserve_attempt(user, now, &self.config.lockout)
                    .await?
                {
                    crate::limiter::Gate::Open { failures } => failures,
                    crate::limiter::Gate::Locked { until } => return Err(MfaError::Locked { until }),
                };
                let sealed = f.secret.as_ref().ok_or(MfaError::SecretUnavailable)?;
                let seed = self.keys.open(sealed, &Self::seed_context(user, factor))?;
                let accepted = match matching_step(seed.expose(), &self.config.totp, &code, now)? {
                    Some(step) => self.store.accept_totp_step(user, factor, step, now).await?,
                    None => false,
                };
                if !accepted {
                    self.failed(user, failures, now);
                    self.emit(
                        user,
                        EventKind::VerifyFailed {
                            method: Some(FactorKind::Totp),
                            purpose: Purpose::Enroll,
                            reason: "invalid_code",
                        },
                    );
                    return Err(MfaError::InvalidCode {
                        attempts_left: (self.config.lockout.free_failures + 1).saturating_sub(failures),
                    });
                }
            }
            _ => {
                let challenge = self
                    .store
                    .live_challenge(user, Purpose::Enroll, now)
                    .await?
                    .filter(|c| &c.factor == factor)
                    .map(|c| c.id)
                    .ok_or(MfaError::Expired)?;
                self.confirm_by_challenge(user, &challenge, &input, now).await?;
            }
        }
        if !self.store.activate_factor(user, factor, now, first).await? {
            let superseded = first
                && self
                    .store
                    .factors(user)
                    .await?
                    .iter()
                    .any(|g| &g.id != factor && g.is_active());
            return Err(if superseded {
                MfaError::StepUpRequired
            } else {
                MfaError::NotFound
            });
        }
        self.emit(
            user,
            EventKind::FactorEnrolled {
                factor: factor.clone(),
                method: f.kind,
            },
        );
        let mut summary = f.summary();
        summary.confirmed_at = Some(now);
        Ok(Enrolled {
            factor: summary,
            assurance: Assurance::second_factor(now, f.kind),
        })
    }

    async fn confirm_by_challenge(
        &self,
        user: &UserId,
        challenge: &ChallengeId,
        input: &SecretString,
        now: Timestamp,
    ) -> Result<(), MfaError> {
        match self
            .verify_challenge(user, challenge, input, Purpose::Enroll, now)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                self.emit(
                    user,
                    EventKind::VerifyFailed {
                        method: None,
                        purpose: Purpose::Enroll,
                        reason: e.code(),
                    },
                );
                Err(e)
            }
        }
    }
}
