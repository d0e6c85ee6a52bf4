//! The rollout policy: from when MFA is required, an optional grace period
//! before that, and per-cohort settings (platform and group): the methods
//! that may be enrolled (a user's existing factors stay usable everywhere,
//! invariant I4), "trust this device" permission and duration, and forced
//! re-login cut-offs (the housing association's "all web users logged out that evening, app
//! users in stages by platform").
//!
//! Loads from TOML or JSON and validates with clear errors:
//!
//! ```
//! use mfa_core::{Audience, Platform, Policy, Requirement, Timestamp};
//! let policy = Policy::from_toml(r#"
//!     enforce_from = "2026-05-28T00:00:00Z"
//!     grace = "14d"
//!
//!     [defaults]
//!     methods = ["totp", "sms", "email"]
//!     trust_for = "90d"
//!     relogin_cutoff = "2026-05-28T18:00:00Z"   # web: logged out that evening
//!
//!     [[cohorts]]
//!     name = "android"
//!     platforms = ["android"]
//!     relogin_cutoff = "2026-08-22T00:00:00Z"   # apps: in stages
//! "#)?;
//! let web = Audience::new(Platform::WEB);
//! let may_20 = Timestamp::parse_rfc3339("2026-05-20T12:00:00Z").unwrap();
//! let june = Timestamp::parse_rfc3339("2026-06-01T00:00:00Z").unwrap();
//! assert_eq!(policy.requirement(&web, may_20), Requirement::Offered);
//! assert_eq!(policy.requirement(&web, june), Requirement::Required);
//!
//! // A web session from May 27 ends after the cut-off; an Android one not yet.
//! let issued = Timestamp::parse_rfc3339("2026-05-27T09:00:00Z").unwrap();
//! assert!(policy.must_relogin(issued, &web, june));
//! assert!(!policy.must_relogin(issued, &Audience::new(Platform::ANDROID), june));
//! # Ok::<(), mfa_core::PolicyError>(())
//! ```

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::error::PolicyError;
use crate::factor::FactorKind;

/// The platform a session comes from (`web`, `android`, `ios`,
/// `white-label`, or any name of 1-32 characters `[a-z0-9_-]`). The
/// application says which, from its own knowledge (which app, which header).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Platform(std::borrow::Cow<'static, str>);

impl Platform {
    /// A browser.
    pub const WEB: Platform = Platform(std::borrow::Cow::Borrowed("web"));
    /// The Android app.
    pub const ANDROID: Platform = Platform(std::borrow::Cow::Borrowed("android"));
    /// The iOS app.
    pub const IOS: Platform = Platform(std::borrow::Cow::Borrowed("ios"));
    /// A white-label build of the app.
    pub const WHITE_LABEL: Platform = Platform(std::borrow::Cow::Borrowed("white-label"));

    /// Validates a platform name.
    pub fn new(name: &str) -> Result<Self, PolicyError> {
        let ok = (1..=32).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !ok {
            return Err(PolicyError::Invalid(format!(
                "platform {name:?}: use 1-32 characters a-z 0-9 - _"
            )));
        }
        Ok(Platform(std::borrow::Cow::Owned(name.to_owned())))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Platform {
    type Error = PolicyError;
    fn try_from(s: String) -> Result<Self, PolicyError> {
        Platform::new(&s)
    }
}

impl From<Platform> for String {
    fn from(p: Platform) -> String {
        p.0.into_owned()
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who is logging in, as far as the policy cares: platform and groups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Audience {
    /// The session's platform.
    pub platform: Platform,
    /// The user's groups in the application ("staff", "applicants"...).
    pub groups: Vec<String>,
}

impl Audience {
    /// An audience with no groups.
    pub fn new(platform: Platform) -> Self {
        Audience {
            platform,
            groups: Vec::new(),
        }
    }

    /// Adds groups.
    pub fn with_groups<I: IntoIterator<Item = S>, S: Into<String>>(mut self, groups: I) -> Self {
        self.groups.extend(groups.into_iter().map(Into::into));
        self
    }
}

/// What the policy asks of a login.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Requirement {
    /// MFA is not required (users who enrolled anyway are still asked).
    NotRequired,
    /// Grace period: enrolment is offered and may be skipped.
    Offered,
    /// MFA is required; users without a factor must enrol now.
    Required,
}

/// Settings that apply to a cohort (the defaults, or a cohort's overrides
/// applied on top).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Methods users may enrol, the ones offered first at login (not
    /// `recovery_code`: recovery codes are always accepted once generated).
    /// A factor a user already has stays usable for login and step-up on
    /// every platform whatever this says (invariant I4): retire a method
    /// for existing users by removing their factors, never by this list.
    #[serde(default = "default_methods")]
    pub methods: Vec<FactorKind>,
    /// Whether "Trust this device" is offered.
    #[serde(default = "yes")]
    pub trust_device: bool,
    /// How long a trusted device skips MFA (default 90 days).
    #[serde(default = "default_trust_for", with = "duration_text")]
    pub trust_for: Duration,
    /// Sessions issued before this instant must log in again once it has
    /// passed (a forced logout wave).
    #[serde(default, with = "opt_timestamp_text", skip_serializing_if = "Option::is_none")]
    pub relogin_cutoff: Option<Timestamp>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            methods: default_methods(),
            trust_device: true,
            trust_for: default_trust_for(),
            relogin_cutoff: None,
        }
    }
}

/// A cohort: who it matches (platforms and/or groups) and what it changes.
/// The first cohort that matches an audience applies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cohort {
    /// A unique name ("android", "staff").
    pub name: String,
    /// Platforms it matches (any if empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<Platform>,
    /// Groups it matches (any if empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Overrides the policy's `enforce_from`.
    #[serde(default, with = "opt_timestamp_text", skip_serializing_if = "Option::is_none")]
    pub enforce_from: Option<Timestamp>,
    /// Overrides the allowed methods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<FactorKind>>,
    /// Overrides whether devices may be trusted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_device: Option<bool>,
    /// Overrides the trust duration.
    #[serde(default, with = "opt_duration_text", skip_serializing_if = "Option::is_none")]
    pub trust_for: Option<Duration>,
    /// Overrides the re-login cut-off.
    #[serde(default, with = "opt_timestamp_text", skip_serializing_if = "Option::is_none")]
    pub relogin_cutoff: Option<Timestamp>,
}

impl Cohort {
    fn matches(&self, a: &Audience) -> bool {
        (self.platforms.is_empty() || self.platforms.contains(&a.platform))
            && (self.groups.is_empty() || self.groups.iter().any(|g| a.groups.contains(g)))
    }
}

/// The rollout policy. See the [module docs](self) for the file format.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// From this instant MFA is required (never, if unset).
    #[serde(default, with = "opt_timestamp_text", skip_serializing_if = "Option::is_none")]
    pub enforce_from: Option<Timestamp>,
    /// Before `enforce_from`, enrolment is offered (skippable) for this long.
    #[serde(default, with = "opt_duration_text", skip_serializing_if = "Option::is_none")]
    pub grace: Option<Duration>,
    /// Settings for everyone no cohort matches.
    #[serde(default)]
    pub defaults: Settings,
    /// Cohorts, first match wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cohorts: Vec<Cohort>,
}

/// Longest trust duration a policy may set.
pub const MAX_TRUST_FOR: Duration = Duration::from_secs(400 * 86_400);

impl Policy {
    /// A policy that requires MFA for everyone from `from`.
    pub fn required_from(from: Timestamp) -> Self {
        Policy {
            enforce_from: Some(from),
            ..Policy::default()
        }
    }

    /// Parses and validates TOML.
    pub fn from_toml(text: &str) -> Result<Self, PolicyError> {
        let p: Policy = toml::from_str(text).map_err(|e| PolicyError::Parse(e.message().to_owned()))?;
        p.validate()?;
        Ok(p)
    }

    /// Parses and validates JSON.
    pub fn from_json(text: &str) -> Result<Self, PolicyError> {
        let p: Policy = serde_json::from_str(text).map_err(|e| PolicyError::Parse(e.to_string()))?;
        p.validate()?;
        Ok(p)
    }

    /// The policy as TOML (what [`from_toml`](Self::from_toml) reads back).
    pub fn to_toml(&self) -> Result<String, PolicyError> {
        toml::to_string(self).map_err(|e| PolicyError::Parse(e.to_string()))
    }

    /// Checks the policy is consistent; every loader calls it.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let bad = |m: String| Err(PolicyError::Invalid(m));
        if self.grace.is_some() && self.enforce_from.is_none() {
            return bad("`grace` needs `enforce_from`".into());
        }
        check_settings("defaults", &self.defaults.methods, self.defaults.trust_for)?;
        let mut names = HashSet::new();
        for c in &self.cohorts {
            if c.name.trim().is_empty() || c.name.len() > 64 {
                return bad("a cohort needs a name of 1-64 characters".into());
            }
            if !names.insert(c.name.as_str()) {
                return bad(format!("cohort {:?} is defined twice", c.name));
            }
            if c.platforms.is_empty() && c.groups.is_empty() {
                return bad(format!(
                    "cohort {:?} matches everyone: give it platforms or groups, or change `defaults`",
                    c.name
                ));
            }
            let methods = c.methods.as_ref().unwrap_or(&self.defaults.methods);
            check_settings(&c.name, methods, c.trust_for.unwrap_or(self.defaults.trust_for))?;
        }
        Ok(())
    }

    fn cohort(&self, a: &Audience) -> Option<&Cohort> {
        self.cohorts.iter().find(|c| c.matches(a))
    }

    /// The settings for an audience: the defaults with the first matching
    /// cohort's overrides applied.
    pub fn settings_for(&self, a: &Audience) -> Settings {
        let mut s = self.defaults.clone();
        if let Some(c) = self.cohort(a) {
            if let Some(m) = &c.methods {
                s.methods = m.clone();
            }
            if let Some(t) = c.trust_device {
                s.trust_device = t;
            }
            if let Some(t) = c.trust_for {
                s.trust_for = t;
            }
            if c.relogin_cutoff.is_some() {
                s.relogin_cutoff = c.relogin_cutoff;
            }
        }
        s
    }

    /// The methods `a` may enrol: [`settings_for`](Self::settings_for)`(a).methods`
    /// without copying anything.
    ///
    /// ```
    /// use mfa_core::{Audience, FactorKind, Platform, Policy};
    /// let p = Policy::from_toml("[[cohorts]]\nname = \"apps\"\nplatforms = [\"ios\"]\nmethods = [\"totp\"]\n")?;
    /// assert_eq!(p.methods_for(&Audience::new(Platform::IOS)), [FactorKind::Totp]);
    /// assert_eq!(p.methods_for(&Audience::new(Platform::WEB)), p.settings_for(&Audience::new(Platform::WEB)).methods);
    /// # Ok::<(), mfa_core::PolicyError>(())
    /// ```
    pub fn methods_for(&self, a: &Audience) -> &[FactorKind] {
        self.cohort(a)
            .and_then(|c| c.methods.as_deref())
            .unwrap_or(&self.defaults.methods)
    }

    /// The name of the cohort that applies (`None`: the defaults).
    pub fn cohort_name(&self, a: &Audience) -> Option<&str> {
        self.cohort(a).map(|c| c.name.as_str())
    }

    /// Whether MFA is required, offered or not required for `a` at `now`.
    pub fn requirement(&self, a: &Audience, now: Timestamp) -> Requirement {
        let from = self.cohort(a).and_then(|c| c.enforce_from).or(self.enforce_from);
        match from {
            None => Requirement::NotRequired,
            Some(from) if now >= from => Requirement::Required,
            Some(from) => match self.grace {
                Some(g) if now >= from - g => Requirement::Offered,
                _ => Requirement::NotRequired,
            },
        }
    }

    /// True when a session issued at `issued_at` must end: its cohort has a
    /// re-login cut-off that has passed and the session predates it.
    pub fn must_relogin(&self, issued_at: Timestamp, a: &Audience, now: Timestamp) -> bool {
        self.settings_for(a)
            .relogin_cutoff
            .is_some_and(|cut| now >= cut && issued_at < cut)
    }
}

fn check_settings(who: &str, methods: &[FactorKind], trust_for: Duration) -> Result<(), PolicyError> {
    if methods.is_empty() {
        return Err(PolicyError::Invalid(format!("{who}: `methods` is empty")));
    }
    if methods.contains(&FactorKind::RecoveryCode) {
        return Err(PolicyError::Invalid(format!(
            "{who}: `recovery_code` is not an enrolment method (recovery codes are always accepted)"
        )));
    }
    let unique: HashSet<_> = methods.iter().collect();
    if unique.len() != methods.len() {
        return Err(PolicyError::Invalid(format!("{who}: a method is listed twice")));
    }
    if trust_for < Duration::from_secs(3600) || trust_for > MAX_TRUST_FOR {
        return Err(PolicyError::Invalid(format!(
            "{who}: `trust_for` must be between 1h and 400d"
        )));
    }
    Ok(())
}

fn default_methods() -> Vec<FactorKind> {
    FactorKind::ENROLLABLE.to_vec()
}

fn default_trust_for() -> Duration {
    Duration::from_secs(90 * 86_400)
}

fn yes() -> bool {
    true
}

mod duration_text {
    use super::*;
    use serde::{Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(|e| D::Error::custom(format!("duration {text:?}: {e}")))
    }
}

mod opt_duration_text {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::duration_text::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        super::duration_text::deserialize(d).map(Some)
    }
}

mod opt_timestamp_text {
    use super::*;
    use serde::{Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            // Milliseconds when there are any, so that a policy written
            // back reads as the same policy (found by the `policy` fuzz target).
            Some(t) if t.unix_millis() % 1000 != 0 => {
                s.serialize_str(&humantime::format_rfc3339_millis(t.to_system_time()).to_string())
            }
            Some(t) => s.serialize_str(&t.to_rfc3339()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse_rfc3339(&text).map(Some).map_err(|_| {
            D::Error::custom(format!(
                "{text:?} is not an RFC 3339 time like 2026-05-28T00:00:00Z"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn invalid_policies_say_why() {
        let cases = [
            ("grace = \"1d\"", "needs `enforce_from`"),
            ("[defaults]\nmethods = []", "empty"),
            (
                "[defaults]\nmethods = [\"recovery_code\"]",
                "not an enrolment method",
            ),
            ("[defaults]\nmethods = [\"sms\", \"sms\"]", "twice"),
            ("[defaults]\ntrust_for = \"500d\"", "between"),
            ("[defaults]\ntrust_for = \"ninety\"", "duration"),
            ("enforce_from = \"28 May\"", "RFC 3339"),
            ("[[cohorts]]\nname = \"all\"", "matches everyone"),
            (
                "[[cohorts]]\nname = \"a\"\nplatforms=[\"web\"]\n[[cohorts]]\nname = \"a\"\nplatforms=[\"ios\"]",
                "twice",
            ),
            ("[[cohorts]]\nname = \"a\"\nplatforms=[\"Web!\"]", "platform"),
            ("unknown = 1", "unknown field"),
            ("[defaults]\nmethods = [\"carrier-pigeon\"]", "unknown variant"),
        ];
        for (text, want) in cases {
            let err = Policy::from_toml(text).unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn first_matching_cohort_wins_and_overrides_defaults() {
        let p = Policy::from_toml(
            r#"
            [[cohorts]]
            name = "staff"
            groups = ["staff"]
            methods = ["totp"]
            trust_device = false
            enforce_from = "2026-01-01T00:00:00Z"
            [[cohorts]]
            name = "ios"
            platforms = ["ios"]
            trust_for = "30d"
            "#,
        )
        .unwrap();
        let staff_on_ios = Audience::new(Platform::IOS).with_groups(["staff"]);
        assert_eq!(p.cohort_name(&staff_on_ios), Some("staff"));
        let s = p.settings_for(&staff_on_ios);
        assert_eq!(s.methods, vec![FactorKind::Totp]);
        assert!(!s.trust_device);
        assert_eq!(
            p.requirement(&staff_on_ios, t("2026-02-01T00:00:00Z")),
            Requirement::Required
        );
        let resident_on_ios = Audience::new(Platform::IOS);
        assert_eq!(
            p.settings_for(&resident_on_ios).trust_for,
            Duration::from_secs(30 * 86_400)
        );
        assert_eq!(
            p.requirement(&resident_on_ios, t("2026-02-01T00:00:00Z")),
            Requirement::NotRequired
        );
    }

    #[test]
    fn requirement_boundaries_are_exact() {
        let p = Policy::from_json(r#"{"enforce_from":"2026-05-28T00:00:00Z","grace":"7d"}"#).unwrap();
        let a = Audience::new(Platform::WEB);
        let from = t("2026-05-28T00:00:00Z");
        assert_eq!(
            p.requirement(&a, from - Duration::from_millis(1)),
            Requirement::Offered
        );
        assert_eq!(p.requirement(&a, from), Requirement::Required);
        let grace_start = from - Duration::from_secs(7 * 86_400);
        assert_eq!(p.requirement(&a, grace_start), Requirement::Offered);
        assert_eq!(
            p.requirement(&a, grace_start - Duration::from_millis(1)),
            Requirement::NotRequired
        );
    }

    #[test]
    fn staged_relogin_waves_by_platform() {
        let p = Policy::from_toml(
            r#"
            [defaults]
            relogin_cutoff = "2026-08-21T18:00:00Z"
            [[cohorts]]
            name = "android"
            platforms = ["android"]
            relogin_cutoff = "2026-08-22T00:00:00Z"
            [[cohorts]]
            name = "ios"
            platforms = ["ios"]
            relogin_cutoff = "2026-09-01T00:00:00Z"
            [[cohorts]]
            name = "white-label"
            platforms = ["white-label"]
            relogin_cutoff = "2026-09-11T00:00:00Z"
            "#,
        )
        .unwrap();
        let issued = t("2026-08-01T00:00:00Z");
        let aug23 = t("2026-08-23T00:00:00Z");
        let (web, android, ios, wl) = (
            Audience::new(Platform::WEB),
            Audience::new(Platform::ANDROID),
            Audience::new(Platform::IOS),
            Audience::new(Platform::WHITE_LABEL),
        );
        assert!(p.must_relogin(issued, &web, aug23));
        assert!(p.must_relogin(issued, &android, aug23));
        assert!(!p.must_relogin(issued, &ios, aug23));
        assert!(!p.must_relogin(issued, &wl, aug23));
        // A session that logged in again after the cut-off survives it.
        assert!(!p.must_relogin(t("2026-08-21T19:00:00Z"), &web, aug23));
        // The exact instant of the cut-off: the wave has started.
        let cut = t("2026-08-21T18:00:00Z");
        assert!(p.must_relogin(issued, &web, cut));
        assert!(!p.must_relogin(issued, &web, cut - Duration::from_millis(1)));
    }

    #[test]
    fn fractional_second_timestamps_round_trip() {
        let p = Policy::from_toml("enforce_from = \"2026-05-28T00:00:00.5Z\"").unwrap();
        assert_eq!(p.enforce_from.unwrap().unix_millis() % 1000, 500);
        assert_eq!(Policy::from_toml(&p.to_toml().unwrap()).unwrap(), p);
    }

    #[test]
    fn toml_round_trips() {
        let p = Policy::from_toml(
            "enforce_from = \"2026-05-28T00:00:00Z\"\ngrace = \"14days\"\n[[cohorts]]\nname = \"a\"\nplatforms = [\"android\"]\ntrust_for = \"30days\"\n",
        )
        .unwrap();
        assert_eq!(Policy::from_toml(&p.to_toml().unwrap()).unwrap(), p);
    }
}
