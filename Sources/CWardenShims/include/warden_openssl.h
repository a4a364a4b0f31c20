#ifndef WARDEN_OPENSSL_H
#define WARDEN_OPENSSL_H
// Wrappers for what Swift cannot call safely in libcrypto (macros, and OSSL_PARAM building:
// OSSL_PARAM_BLD keeps the key names and buffers by pointer until to_param, so the whole build
// must happen where those pointers are stable — here, in C).
#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

/// EVP_PKEY_ED25519 (NID_ED25519) as a function, so Swift does not depend on macro import rules.
static inline int warden_evp_pkey_ed25519(void) { return EVP_PKEY_ED25519; }
/// RSA_PSS_SALTLEN_DIGEST: PSS salt length equal to the digest length.
static inline int warden_rsa_pss_saltlen_digest(void) { return RSA_PSS_SALTLEN_DIGEST; }
static inline int warden_rsa_pkcs1_pss_padding(void) { return RSA_PKCS1_PSS_PADDING; }
static inline int warden_rsa_pkcs1_padding(void) { return RSA_PKCS1_PADDING; }

/// An RSA public EVP_PKEY from big-endian n and e; NULL on failure (details on the error queue).
EVP_PKEY *warden_rsa_public_key(const uint8_t *n, size_t n_len, const uint8_t *e, size_t e_len);

/// An EC public EVP_PKEY from an uncompressed point (0x04 || X || Y) on the named group
/// ("prime256v1", "secp384r1", "secp521r1"); NULL on failure (details on the error queue).
EVP_PKEY *warden_ec_public_key(const char *group, const uint8_t *point, size_t point_len);

/// The identity Envoy's ext_authz reports for a peer certificate (PEM): its first URI SAN, else its first
/// DNS SAN, else its subject (RFC 2253). Writes it to out (cap bytes, not NUL-terminated) and returns its
/// length; -1 if the PEM holds no certificate or the identity does not fit.
int warden_x509_peer_identity(const char *pem, size_t pem_len, char *out, size_t cap);
#endif
