//! `MfaConfig`: the engine's settings, validated when built. Defaults are
//! the product's and the security requirements' numbers (docs/SECURITY-REVIEW.md).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::ConfigError;
use crate::limiter::{LockoutRules, SendRules};
use crate::oob::{MessageContext, default_message};

/// TOTP parameters. Defaults: 6 digits, 30 s steps, one step back and one
/// ahead (what Google Authenticator, Microsoft Authenticator and Authy
/// produce; the first two ignore anything else).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TotpParams {
    /// Digits per code (6-8).
    pub digits: u32,
    /// Seconds per step (15-120).
    pub step_secs: u64,
    /// Steps accepted behind the current one (0-2; RFC 6238 §5.2 asks 1).
    pub skew_back: u32,
    /// Steps accepted ahead of the current one (0-2).
    pub skew_ahead: u32,
}

impl Default for TotpParams {
    fn default() -> Self {
        TotpParams {
            digits: 6,
            step_secs: 30,
            skew_back: 1,
            skew_ahead: 1,
        }
    }
}

/// Argon2id cost for recovery-code hashes. The default is OWASP's
/// (19 MiB, 2 passes, 1 lane).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Argon2Params {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Builds the text of an SMS/email carrying a code.
pub type MessageFn = Arc<dyn Fn(&MessageContext<'_>) -> String + Send + Sync>;

/// The engine's settings. Build with [`MfaConfig::builder`].
///
/// ```
/// use mfa_core::MfaConfig;
/// use std::time::Duration;
/// let config = MfaConfig::builder("Alliance Homes")
///     .code_ttl(Duration::from_secs(300))
///     .build()?;
/// assert_eq!(config.issuer(), "Alliance Homes");
/// assert!(MfaConfig::builder("Bad:Issuer").build().is_err());
/// assert!(MfaConfig::builder("X").code_ttl(Duration::from_secs(3600)).build().is_err());
/// # Ok::<(), mfa_core::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct MfaConfig {
    pub(crate) issuer: String,
    pub(crate) code_ttl: Duration,
    pub(crate) code_digits: u32,
    pub(crate) totp: TotpParams,
    pub(crate) resend_cooldown: Duration,
    pub(crate) max_attempts: u32,
    pub(crate) lockout: LockoutRules,
    pub(crate) sends: SendRules,
    pub(crate) step_up_max_age: Duration,
    pub(crate) pending_enrollment_ttl: Duration,
    pub(crate) max_factors: usize,
    pub(crate) recovery_codes: u32,
    pub(crate) argon2: Argon2Params,
    pub(crate) message: MessageFn,
}

impl fmt::Debug for MfaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MfaConfig")
            .field("issuer", &self.issuer)
            .field("code_ttl", &self.code_ttl)
            .field("code_digits", &self.code_digits)
            .field("totp", &self.totp)
            .field("resend_cooldown", &self.resend_cooldown)
            .field("max_attempts", &self.max_attempts)
            .field("lockout", &self.lockout)
            .field("sends", &self.sends)
            .field("step_up_max_age", &self.step_up_max_age)
            .field("recovery_codes", &self.recovery_codes)
            .field("argon2", &self.argon2)
            .finish_non_exhaustive()
    }
}

macro_rules! getters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {
        impl MfaConfig {
            $($(#[$doc])* pub fn $name(&self) -> $ty { self.$name })*
        }
        impl MfaConfigBuilder {
            $($(#[$doc])* pub fn $name(mut self, v: $ty) -> Self { self.0.$name = v; self })*
        }
    };
}

getters! {
    /// How long an SMS/email code is valid (default 5 min, at most 10).
    code_ttl: Duration,
    /// Digits of an SMS/email code (default 6).
    code_digits: u32,
    /// TOTP parameters.
    totp: TotpParams,
    /// Minimum gap between two codes for the same purpose (default 30 s).
    resend_cooldown: Duration,
    /// Wrong codes allowed per challenge (default 5).
    max_attempts: u32,
    /// Per-account back-off and hard stop.
    lockout: LockoutRules,
    /// Send caps per account and destination.
    sends: SendRules,
    /// How recent a second factor must be for sensitive changes (default 10 min).
    step_up_max_age: Duration,
    /// How long an unconfirmed enrolment is kept (default 15 min).
    pending_enrollment_ttl: Duration,
    /// Factors a user may have, pending included (default 10).
    max_factors: usize,
    /// Recovery codes per set (default 10).
    recovery_codes: u32,
    /// Argon2id cost of recovery-code hashes.
    argon2: Argon2Params,
}

impl MfaConfig {
    /// A builder with defaults for `issuer` (the name shown in authenticator
    /// apps and messages).
    pub fn builder(issuer: impl Into<String>) -> MfaConfigBuilder {
        MfaConfigBuilder(MfaConfig {
            issuer: issuer.into(),
            code_ttl: Duration::from_secs(300),
            code_digits: 6,
            totp: TotpParams::default(),
            resend_cooldown: Duration::from_secs(30),
            max_attempts: 5,
            lockout: LockoutRules::default(),
            sends: SendRules::default(),
            step_up_max_age: Duration::from_secs(600),
            pending_enrollment_ttl: Duration::from_secs(900),
            max_factors: 10,
            recovery_codes: 10,
            argon2: Argon2Params::default(),
            message: Arc::new(default_message),
        })
    }

    /// The issuer name.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
}

/// Builds an [`MfaConfig`]; see there.
pub struct MfaConfigBuilder(MfaConfig);

impl MfaConfigBuilder {
    /// Replaces the text of SMS/email messages. The default names the
    /// issuer and the validity: "123456 is your Alliance Homes verification
    /// code. It is valid for 5 minutes. Never share it with anyone."
    pub fn message(mut self, f: impl Fn(&MessageContext<'_>) -> String + Send + Sync + 'static) -> Self {
        self.0.message = Arc::new(f);
        self
    }

    /// Validates and returns the configuration.
    pub fn build(self) -> Result<MfaConfig, ConfigError> {
        let c = self.0;
        let range = |ok: bool, what: &str| {
            if ok {
                Ok(())
            } else {
                Err(ConfigError::OutOfRange(what.to_owned()))
            }
        };
        range(
            !c.issuer.trim().is_empty()
                && c.issuer.len() <= 64
                && !c.issuer.contains(':')
                && !c.issuer.chars().any(char::is_control),
            "issuer: 1-64 characters, no ':' (it is part of the otpauth label)",
        )?;
        range(
            (60..=600).contains(&c.code_ttl.as_secs()) && c.code_ttl.subsec_nanos() == 0,
            "code_ttl: 1-10 minutes (NIST SP 800-63B, ASVS 2.7.2)",
        )?;
        range((6..=8).contains(&c.code_digits), "code_digits: 6-8")?;
        range((6..=8).contains(&c.totp.digits), "totp.digits: 6-8")?;
        range((15..=120).contains(&c.totp.step_secs), "totp.step_secs: 15-120")?;
        range(
            c.totp.skew_back <= 2 && c.totp.skew_ahead <= 2,
            "totp skew: 0-2 steps",
        )?;
        range(
            c.resend_cooldown <= c.code_ttl,
            "resend_cooldown: at most code_ttl",
        )?;
        range((1..=10).contains(&c.max_attempts), "max_attempts: 1-10")?;
        range(
            c.lockout.hard_stop >= 1
                && c.lockout.hard_stop <= 100
                && c.lockout.free_failures < c.lockout.hard_stop,
            "lockout: hard_stop 1-100 (NIST), free_failures below it",
        )?;
        range(c.lockout.base <= c.lockout.max, "lockout: base at most max")?;
        range(
            c.sends.per_account >= 1 && c.sends.per_destination >= 1 && !c.sends.window.is_zero(),
            "sends: caps at least 1, window above zero",
        )?;
        range(!c.step_up_max_age.is_zero(), "step_up_max_age: above zero")?;
        range(
            c.pending_enrollment_ttl >= Duration::from_secs(60),
            "pending_enrollment_ttl: at least a minute",
        )?;
        range((1..=50).contains(&c.max_factors), "max_factors: 1-50")?;
        range((1..=20).contains(&c.recovery_codes), "recovery_codes: 1-20")?;
        range(
            c.argon2.memory_kib >= 8 * c.argon2.parallelism.max(1)
                && c.argon2.iterations >= 1
                && (1..=16).contains(&c.argon2.parallelism),
            "argon2: memory >= 8 KiB per lane, 1+ passes, 1-16 lanes",
        )?;
        Ok(c)
    }
}
