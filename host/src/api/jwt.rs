//! JWT bearer tokens, as an alternative to the host's own hashed tokens.
//!
//! Why these checks: a token from an identity provider is only as good as what
//! the verifier insists on. The algorithm is fixed by the config (HS256 with a
//! shared secret, or RS256 with the issuer's public key), so a token cannot pick
//! its own (`alg: none`, or HS256 signed with the RSA public key as secret);
//! `exp`, `iss`, `aud` and `sub` are required and checked; the role comes from
//! one configured claim and must be `operator` or `consumer`.

use std::path::PathBuf;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::auth::{Principal, Role};

/// `[api.jwt]` in the host config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// The `iss` every token must carry.
    pub issuer: String,
    /// The `aud` every token must carry.
    pub audience: String,
    /// HS256: the environment variable that holds the shared secret (the secret
    /// itself never goes in the config file).
    pub hs256_secret_env: Option<String>,
    /// RS256: a PEM file with the issuer's public key.
    pub rs256_public_key: Option<PathBuf>,
    /// The claim that holds the role (`operator` or `consumer`).
    #[serde(default = "default_role_claim")]
    pub role_claim: String,
    /// Clock skew allowed on `exp` and `nbf`, seconds.
    #[serde(default = "default_leeway")]
    pub leeway_s: u64,
}

fn default_role_claim() -> String {
    "djinn_role".into()
}

fn default_leeway() -> u64 {
    30
}

/// Why `[api.jwt]` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JwtConfigError {
    #[error(
        "[api.jwt] needs exactly one of `hs256_secret_env` and `rs256_public_key` (it has {0})"
    )]
    KeyChoice(&'static str),
    #[error("[api.jwt] hs256_secret_env names `{0}`, which is not set or is empty")]
    MissingSecret(String),
    #[error("[api.jwt] cannot read rs256_public_key {path}: {source}")]
    ReadKey {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("[api.jwt] rs256_public_key {path} is not a PEM RSA public key: {source}")]
    BadKey {
        path: PathBuf,
        source: jsonwebtoken::errors::Error,
    },
}

/// Checks JWTs against one issuer, audience and key.
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
    role_claim: String,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("algorithms", &self.validation.algorithms)
            .field("role_claim", &self.role_claim)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    pub fn from_config(c: &JwtConfig) -> Result<Self, JwtConfigError> {
        let (alg, key) = match (&c.hs256_secret_env, &c.rs256_public_key) {
            (Some(var), None) => {
                let secret = std::env::var(var)
                    .ok()
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| JwtConfigError::MissingSecret(var.clone()))?;
                (
                    Algorithm::HS256,
                    DecodingKey::from_secret(secret.as_bytes()),
                )
            }
            (None, Some(path)) => {
                let pem = std::fs::read(path).map_err(|source| JwtConfigError::ReadKey {
                    path: path.clone(),
                    source,
                })?;
                let key =
                    DecodingKey::from_rsa_pem(&pem).map_err(|source| JwtConfigError::BadKey {
                        path: path.clone(),
                        source,
                    })?;
                (Algorithm::RS256, key)
            }
            (None, None) => return Err(JwtConfigError::KeyChoice("neither")),
            (Some(_), Some(_)) => return Err(JwtConfigError::KeyChoice("both")),
        };
        Ok(Self::with_key(c, alg, key))
    }

    fn with_key(c: &JwtConfig, alg: Algorithm, key: DecodingKey) -> Self {
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[&c.issuer]);
        validation.set_audience(&[&c.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = c.leeway_s;
        validation.validate_nbf = true;
        Self {
            key,
            validation,
            role_claim: c.role_claim.clone(),
        }
    }

    /// The caller a valid token names, or why the token is refused.
    pub fn verify(&self, token: &str) -> Result<Principal, String> {
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &self.key, &self.validation)
            .map_err(|e| {
                match e.kind() {
                    ErrorKind::ExpiredSignature => "JWT has expired",
                    ErrorKind::ImmatureSignature => "JWT is not valid yet (nbf)",
                    ErrorKind::InvalidSignature => "JWT signature does not verify",
                    ErrorKind::InvalidIssuer => "JWT issuer (iss) is not the configured issuer",
                    ErrorKind::InvalidAudience => "JWT audience (aud) is not this host",
                    ErrorKind::InvalidAlgorithm => "JWT algorithm is not the configured one",
                    ErrorKind::MissingRequiredClaim(_) => {
                        "JWT lacks a required claim (exp, iss, aud, sub)"
                    }
                    _ => "JWT is malformed",
                }
                .to_owned()
            })?;
        let claims = data.claims;
        let sub = claims["sub"].as_str().unwrap_or_default();
        let role = match claims[&self.role_claim].as_str() {
            Some("operator") => Role::Operator,
            Some("consumer") => Role::Consumer,
            Some(other) => {
                return Err(format!(
                    "JWT claim `{}` is `{other}`; expected `operator` or `consumer`",
                    self.role_claim
                ));
            }
            None => {
                return Err(format!(
                    "JWT lacks the role claim `{}` (`operator` or `consumer`)",
                    self.role_claim
                ));
            }
        };
        Ok(Principal {
            name: format!("jwt:{sub}"),
            role,
        })
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    use super::*;

    const SECRET: &[u8] = b"a-shared-secret-of-some-length-0123456789";

    fn config() -> JwtConfig {
        toml::from_str(
            r#"issuer = "https://idp.test"
audience = "djinn"
hs256_secret_env = "UNUSED"
leeway_s = 0"#,
        )
        .unwrap()
    }

    fn verifier() -> JwtVerifier {
        JwtVerifier::with_key(
            &config(),
            Algorithm::HS256,
            DecodingKey::from_secret(SECRET),
        )
    }

    fn now() -> i64 {
        jsonwebtoken::get_current_timestamp() as i64
    }

    fn claims() -> serde_json::Value {
        json!({ "sub": "alice", "iss": "https://idp.test", "aud": "djinn",
                "exp": now() + 600, "djinn_role": "consumer" })
    }

    fn mint(claims: &serde_json::Value, secret: &[u8]) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    #[test]
    fn a_valid_token_names_the_caller_and_role() {
        let p = verifier().verify(&mint(&claims(), SECRET)).unwrap();
        assert_eq!(p.name, "jwt:alice");
        assert_eq!(p.role, Role::Consumer);
    }

    #[test]
    fn each_bad_claim_is_refused_with_its_reason() {
        let v = verifier();
        let cases = [
            ("exp", json!(now() - 60), "expired"),
            ("iss", json!("https://evil.test"), "issuer"),
            ("aud", json!("another-service"), "audience"),
            (
                "djinn_role",
                json!("admin"),
                "expected `operator` or `consumer`",
            ),
            ("nbf", json!(now() + 600), "not valid yet"),
        ];
        for (claim, value, why) in cases {
            let mut c = claims();
            c[claim] = value;
            let err = v.verify(&mint(&c, SECRET)).unwrap_err();
            assert!(err.contains(why), "{claim}: {err}");
        }
        for claim in ["sub", "exp", "djinn_role"] {
            let mut c = claims();
            c.as_object_mut().unwrap().remove(claim);
            assert!(v.verify(&mint(&c, SECRET)).is_err(), "no {claim} accepted");
        }
    }

    #[test]
    fn forged_and_unsigned_tokens_are_refused() {
        let v = verifier();
        let err = v.verify(&mint(&claims(), b"not-the-secret")).unwrap_err();
        assert!(err.contains("signature"), "{err}");
        // `alg: none` with the signature stripped.
        let token = mint(&claims(), SECRET);
        let mut parts: Vec<&str> = token.split('.').collect();
        let none = base64_url(br#"{"alg":"none","typ":"JWT"}"#);
        parts[0] = &none;
        parts[2] = "";
        assert!(v.verify(&parts.join(".")).is_err());
        assert!(v.verify("not.a.jwt").is_err());
    }

    fn base64_url(bytes: &[u8]) -> String {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n =
                chunk.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
            for i in 0..=chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        out
    }

    #[test]
    fn config_needs_exactly_one_key() {
        let mut c = config();
        c.hs256_secret_env = None;
        assert!(matches!(
            JwtVerifier::from_config(&c),
            Err(JwtConfigError::KeyChoice("neither"))
        ));
        c.hs256_secret_env = Some("DJINN_TEST_SURELY_UNSET_VAR".into());
        let err = JwtVerifier::from_config(&c).unwrap_err();
        assert!(
            err.to_string().contains("DJINN_TEST_SURELY_UNSET_VAR"),
            "{err}"
        );
        c.rs256_public_key = Some("/nonexistent/key.pem".into());
        assert!(matches!(
            JwtVerifier::from_config(&c),
            Err(JwtConfigError::KeyChoice("both"))
        ));
        c.hs256_secret_env = None;
        let err = JwtVerifier::from_config(&c).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/key.pem"), "{err}");
    }
}
