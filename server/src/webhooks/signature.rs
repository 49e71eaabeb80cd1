//! The `webhook-signature` header of the Standard Webhooks convention: `v1,` followed by the
//! base64 of HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}`, keyed by the secret's
//! bytes (the base64 after `whsec_`). The timestamp is the attempt's (receivers reject stale
//! ones), the id the delivery's (the same on every retry, so receivers can deduplicate).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::SigningSecret;

/// The header value for one attempt.
pub fn sign(secret: &SigningSecret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let timestamp = timestamp.to_string();
    let tag = crate::keys::hmac_sha256(
        secret.bytes(),
        &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
    );
    format!("v1,{}", STANDARD.encode(tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification and its reference libraries.
    #[test]
    fn the_specifications_example_signs_as_published() {
        let bytes = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        // The example's secret is 24 bytes; ours are 32, so widen the check: HMAC pads keys
        // with zeros up to the block size, which makes a 24-byte key and the same key padded
        // to 32 bytes with zeros the same key.
        let mut padded = [0u8; 32];
        padded[..bytes.len()].copy_from_slice(&bytes);
        let secret = SigningSecret::from_bytes(&padded).unwrap();
        assert_eq!(
            sign(
                &secret,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }
}
