//! Password hashing: argon2id with OWASP's parameters (m = 19 MiB, t = 2, p = 1), bounded.
//!
//! One argon2id verification works through 19 MiB. Run unbounded, a burst of logins ran every
//! verification at once on its own blocking thread, each allocating its own 19 MiB, and the
//! allocator kept the memory: 20 concurrent logins took an instance from 11 MB to 401 MB RSS.
//! Here at most `PASSWORD_HASH_CONCURRENCY` verifications run at once, each in a working memory
//! allocated once and reused (`argon2`'s `hash_password_into_with_memory`); a login that cannot
//! get a slot within [`SLOT_WAIT`] is told to retry ([`PasswordError::Busy`], a 503 with
//! `Retry-After`) instead of queueing without end. Unknown emails are verified against a dummy
//! hash through the same slots, so their timing matches a wrong password's.

use std::{
    sync::{Arc, LazyLock, Mutex},
    time::Duration,
};

use argon2::{
    password_hash::{phc::PasswordHash, PasswordHasher as _},
    Algorithm, Argon2, Block, Params, Version,
};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

/// How long a verification waits for a slot before the login is answered 503.
pub const SLOT_WAIT: Duration = Duration::from_secs(2);

/// A hash no password matches, verified against when the account does not exist.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    Argon2::default()
        .hash_password(b"no account has this password")
        .expect("hashable")
        .to_string()
});

/// Why a password could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Every slot stayed busy for [`SLOT_WAIT`]: retry after about that long.
    #[error("every password-hashing slot is busy; retry shortly")]
    Busy,
    /// The stored hash cannot be read, or hashing failed: a bug or a corrupt row.
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// The bounded hasher; cheap to clone.
#[derive(Clone)]
pub struct PasswordHasher(Arc<Inner>);

struct Inner {
    slots: Semaphore,
    /// Working memories not in use; at most as many as slots ever exist.
    memory: Mutex<Vec<Vec<Block>>>,
}

impl PasswordHasher {
    /// At most `concurrency` hashes at once.
    pub fn new(concurrency: usize) -> Self {
        Self(Arc::new(Inner {
            slots: Semaphore::new(concurrency),
            memory: Mutex::new(Vec::with_capacity(concurrency)),
        }))
    }

    /// Whether `password` matches `stored`, a PHC string (`$argon2id$v=19$m=…`). With no stored
    /// hash (an unknown email) the dummy hash is checked and the answer is `false`.
    ///
    /// # Errors
    /// [`PasswordError::Busy`] when no slot frees within [`SLOT_WAIT`]; [`PasswordError::Hash`]
    /// for an unreadable stored hash.
    pub async fn verify(
        &self,
        password: SecretString,
        stored: Option<String>,
    ) -> Result<bool, PasswordError> {
        let exists = stored.is_some();
        let hash = stored.unwrap_or_else(|| DUMMY_HASH.clone());
        let matches = self
            .with_slot(move |memory| {
                verify_with(memory, password.expose_secret().as_bytes(), &hash)
            })
            .await??;
        Ok(exists && matches)
    }

    /// A new PHC string for `password`, with a random salt.
    ///
    /// # Errors
    /// As [`PasswordHasher::verify`].
    pub async fn hash(&self, password: SecretString) -> Result<String, PasswordError> {
        self.with_slot(move |memory| {
            let salt: [u8; 16] = rand::random();
            let params = Params::DEFAULT;
            ensure_blocks(memory, params.block_count());
            let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
            argon2id(&params)
                .hash_password_into_with_memory(
                    password.expose_secret().as_bytes(),
                    &salt,
                    &mut out,
                    &mut memory[..params.block_count()],
                )
                .map_err(|e| PasswordError::Hash(e.to_string()))?;
            phc_string(&params, &salt, &out)
        })
        .await?
    }

    /// Runs `work` on a blocking thread with a slot's working memory, once a slot is free.
    async fn with_slot<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let permit = tokio::time::timeout(SLOT_WAIT, self.0.slots.acquire())
            .await
            .map_err(|_| PasswordError::Busy)?
            .expect("the semaphore is never closed");
        let inner = self.0.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut memory = inner
                .memory
                .lock()
                .expect("memory list lock")
                .pop()
                .unwrap_or_default();
            let result = work(&mut memory);
            inner.memory.lock().expect("memory list lock").push(memory);
            result
        })
        .await
        .map_err(|e| PasswordError::Hash(format!("the hashing task failed: {e}")));
        drop(permit);
        result
    }

    /// Builds the dummy hash now, so the first login with an unknown email is not faster than
    /// later ones (it costs one argon2 run).
    pub fn prepare() {
        LazyLock::force(&DUMMY_HASH);
    }
}

fn argon2id(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

/// Grows `memory` to `blocks` blocks (once per slot, for the default parameters).
fn ensure_blocks(memory: &mut Vec<Block>, blocks: usize) {
    if memory.len() < blocks {
        memory.resize(blocks, Block::new());
    }
}

fn verify_with(
    memory: &mut Vec<Block>,
    password: &[u8],
    stored: &str,
) -> Result<bool, PasswordError> {
    let invalid =
        |e: &dyn std::fmt::Display| PasswordError::Hash(format!("stored hash is invalid: {e}"));
    let parsed = PasswordHash::new(stored).map_err(|e| invalid(&e))?;
    let algorithm = Algorithm::new(parsed.algorithm.as_str()).map_err(|e| invalid(&e))?;
    let version = parsed
        .version
        .map_or(Ok(Version::default()), Version::try_from)
        .map_err(|e| invalid(&e))?;
    let params = Params::try_from(&parsed).map_err(|e| invalid(&e))?;
    let salt = parsed.salt.ok_or_else(|| invalid(&"no salt"))?;
    let expected = parsed.hash.ok_or_else(|| invalid(&"no hash"))?;
    ensure_blocks(memory, params.block_count());
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params.clone())
        .hash_password_into_with_memory(
            password,
            salt.as_ref(),
            &mut out,
            &mut memory[..params.block_count()],
        )
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
    Ok(bool::from(out.ct_eq(expected.as_bytes())))
}

/// The PHC string argon2 itself writes for these inputs.
fn phc_string(params: &Params, salt: &[u8], out: &[u8]) -> Result<String, PasswordError> {
    use base64::{engine::general_purpose::STANDARD_NO_PAD, Engine};
    Ok(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(out)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hasher = PasswordHasher::new(2);
        let hash = hasher.hash(secret("correct horse")).await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(hasher
            .verify(secret("correct horse"), Some(hash.clone()))
            .await
            .unwrap());
        assert!(!hasher
            .verify(secret("wrong horse"), Some(hash))
            .await
            .unwrap());
        assert!(!hasher.verify(secret("anything"), None).await.unwrap());
    }

    #[tokio::test]
    async fn hashes_made_by_the_argon2_crate_itself_verify() {
        // Accounts created before the hasher was bounded were hashed with the crate's own API.
        let stored = Argon2::default()
            .hash_password(b"older account")
            .unwrap()
            .to_string();
        let hasher = PasswordHasher::new(1);
        assert!(hasher
            .verify(secret("older account"), Some(stored.clone()))
            .await
            .unwrap());
        assert!(!hasher
            .verify(secret("older accounT"), Some(stored))
            .await
            .unwrap());
        // And ours verify with the crate's verifier: the PHC strings are the same format.
        use argon2::password_hash::PasswordVerifier;
        let ours = hasher.hash(secret("newer account")).await.unwrap();
        assert!(Argon2::default()
            .verify_password(b"newer account", &PasswordHash::new(&ours).unwrap())
            .is_ok());
    }

    #[tokio::test]
    async fn a_corrupt_stored_hash_is_an_error_not_a_match() {
        let hasher = PasswordHasher::new(1);
        assert!(matches!(
            hasher
                .verify(secret("x"), Some("$argon2id$garbage".into()))
                .await,
            Err(PasswordError::Hash(_))
        ));
    }

    #[tokio::test]
    async fn no_more_than_the_slots_run_at_once_and_the_rest_wait_or_are_refused() {
        let hasher = PasswordHasher::new(1);
        let busy = hasher.0.slots.acquire().await.unwrap();
        let started = std::time::Instant::now();
        let refused = hasher.verify(secret("x"), None).await;
        assert!(matches!(refused, Err(PasswordError::Busy)), "{refused:?}");
        assert!(started.elapsed() >= SLOT_WAIT);
        drop(busy);
        assert!(!hasher.verify(secret("x"), None).await.unwrap());
        assert_eq!(
            hasher.0.memory.lock().unwrap().len(),
            1,
            "one working memory, reused"
        );
    }
}
