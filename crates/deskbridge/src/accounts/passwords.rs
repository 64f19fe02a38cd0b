//! Passwords: Argon2id PHC strings with OWASP's minimum parameters, judged by zxcvbn before they
//! are accepted, inputs capped before any work. At most one Argon2 hash per core runs at a time,
//! on a fixed set of threads that reuse their working memory, so a flood of sign-ins queues
//! instead of growing memory.

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use super::model::AccountError;

fn hasher() -> Argon2<'static> {
    // OWASP's minimum for Argon2id: 19 MiB, 2 passes, 1 lane.
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(19 * 1024, 2, 1, None).expect("valid Argon2 parameters"),
    )
}

/// Longest email and password accepted anywhere, checked before any other work (RFC 5321's path
/// limit; a password longer than 1,024 bytes is no stronger, only costlier to hash).
pub const MAX_EMAIL_BYTES: usize = 254;
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Refuses inputs over the caps, with words that say which.
pub fn check_input_sizes(email: &str, password: &str) -> Result<(), AccountError> {
    if email.len() > MAX_EMAIL_BYTES {
        return Err(AccountError::InputTooLong(
            "that email address is too long (254 characters at most)",
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AccountError::InputTooLong(
            "that password is too long (1,024 bytes at most)",
        ));
    }
    Ok(())
}

/// At least 12 characters, and "strong" by zxcvbn (score 3 of 4: its frequency lists hold the
/// common passwords, names, words and keyboard patterns, so `Password1234` is refused). The
/// reason given is zxcvbn's own warning where it has one. `context` (the email, the organisation)
/// counts as guessable too.
pub fn check_password_strength_for(p: &str, context: &[&str]) -> Result<(), AccountError> {
    if p.len() > MAX_PASSWORD_BYTES {
        return Err(AccountError::WeakPassword("use at most 1,024 bytes".into()));
    }
    if p.chars().count() < 12 {
        return Err(AccountError::WeakPassword(
            "use at least 12 characters".into(),
        ));
    }
    let estimate = zxcvbn::zxcvbn(p, context);
    if u8::from(estimate.score()) >= 3 {
        return Ok(());
    }
    let why = estimate
        .feedback()
        .and_then(|f| f.warning())
        .map(|w| w.to_string())
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "it would be guessed too easily".into());
    Err(AccountError::WeakPassword(format!(
        "that password is too easy to guess: {}. Add a few more unusual words",
        why.trim_end_matches('.')
    )))
}

pub fn check_password_strength(p: &str) -> Result<(), AccountError> {
    check_password_strength_for(p, &[])
}

pub fn hash_password(p: &str) -> String {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the OS random number generator");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes of salt");
    hasher()
        .hash_password(p.as_bytes(), &salt)
        .expect("Argon2 hashing")
        .to_string()
}

/// Checks a password against its PHC string. The 19 MiB of Argon2 working memory is kept per
/// thread and reused: allocating and freeing it for every sign-in fragments the allocator's heap
/// until the process holds ten such blocks (measured: 36 MB after one sign-in, 232 MB after 26).
pub(super) fn verify_password(p: &str, phc: &str) -> bool {
    use argon2::password_hash::Output;
    thread_local! {
        static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let Ok(h) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (h.salt, h.hash) else {
        return false;
    };
    let (Ok(params), Ok(algorithm)) = (Params::try_from(&h), Algorithm::try_from(h.algorithm))
    else {
        return false;
    };
    let version = match h.version.map(Version::try_from) {
        None => Version::V0x13,
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let blocks = params.block_count();
    let hashed = BLOCKS.with(|b| {
        let mut b = b.borrow_mut();
        if b.len() != blocks {
            b.clear();
            b.resize(blocks, argon2::Block::default());
        }
        Argon2::new(algorithm, version, params)
            .hash_password_into_with_memory(p.as_bytes(), salt, &mut out, &mut b[..])
            .is_ok()
    });
    // Output's equality is constant-time.
    hashed && Output::new(&out).is_ok_and(|o| o == expected)
}

/// A hash to verify against when the user does not exist, so both answers take as long.
pub(super) fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not a real password, only for timing"))
}

/// At most one Argon2 computation (19 MiB each) per core at a time, process-wide.
pub(super) fn hash_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| tokio::sync::Semaphore::new(hash_slot_count()))
}

pub(super) fn hash_slot_count() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().max(1))
}

type HashJob = Box<dyn FnOnce() + Send>;

/// Runs an Argon2 computation on one of a fixed set of threads (one per hashing slot). Each
/// thread's allocator keeps its 19 MiB for the next hash, so memory stays at slots × 19 MiB
/// however many sign-ins come; on tokio's blocking pool every new thread would keep its own.
pub(super) async fn on_hash_thread(job: impl FnOnce() -> bool + Send + 'static) -> bool {
    static QUEUE: std::sync::OnceLock<std::sync::Mutex<std::sync::mpsc::Sender<HashJob>>> =
        std::sync::OnceLock::new();
    let queue = QUEUE.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<HashJob>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        for i in 0..hash_slot_count() {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    loop {
                        let job = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
                .expect("starting a hashing thread");
        }
        std::sync::Mutex::new(tx)
    });
    let (done, result) = tokio::sync::oneshot::channel();
    let sent = queue
        .lock()
        .map(|q| {
            q.send(Box::new(move || {
                let _ = done.send(job());
            }))
            .is_ok()
        })
        .unwrap_or(false);
    sent && result.await.unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::AccountError;

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters_and_unique_salts() {
        let a = hash_password("correct horse battery staple");
        let b = hash_password("correct horse battery staple");
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b);
        assert!(verify_password("correct horse battery staple", &a));
        assert!(!verify_password("correct horse battery stapl", &a));
        let long: String = "ünïcødé-".repeat(10);
        assert!(verify_password(&long, &hash_password(&long)));
    }

    #[test]
    fn weak_passwords_are_refused_with_a_reason() {
        for weak in [
            "short",
            "password123",
            "changeme1234",
            "Password1234",
            "passwordpassword",
            "qwertyuiop123",
            "111111111111",
            "iloveyou2024",
        ] {
            let e = check_password_strength(weak).expect_err(weak);
            assert!(!e.to_string().is_empty());
        }
        assert!(check_password_strength("a sensible passphrase").is_ok());
        assert!(check_password_strength("a long test passphrase").is_ok());
        // The person's own email, as a password, is guessable once the context is given.
        assert!(check_password_strength("averyowner@acme-support.test").is_ok());
        let why = check_password_strength_for(
            "averyowner@acme-support.test",
            &["averyowner@acme-support.test"],
        )
        .map(|_| String::new())
        .unwrap_or_else(|e| e.to_string());
        assert!(why.contains("guess"), "{why}");
    }

    #[test]
    fn oversized_inputs_are_refused_before_any_work() {
        let long_email = format!("{}@x.test", "a".repeat(300));
        assert!(matches!(
            check_input_sizes(&long_email, "pw"),
            Err(AccountError::InputTooLong(_))
        ));
        assert!(matches!(
            check_input_sizes("a@b.test", &"p".repeat(1025)),
            Err(AccountError::InputTooLong(_))
        ));
        assert!(check_input_sizes("a@b.test", &"p".repeat(1024)).is_ok());
    }
}
