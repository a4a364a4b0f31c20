#include "warden_openssl.h"
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>

static EVP_PKEY *warden_pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld) {
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = params ? EVP_PKEY_CTX_new_from_name(NULL, type, NULL) : NULL;
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        pkey = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}

EVP_PKEY *warden_rsa_public_key(const uint8_t *n, size_t n_len, const uint8_t *e, size_t e_len) {
    EVP_PKEY *pkey = NULL;
    BIGNUM *bn_n = BN_bin2bn(n, (int)n_len, NULL);
    BIGNUM *bn_e = BN_bin2bn(e, (int)e_len, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bn_n && bn_e && bld &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) == 1) {
        pkey = warden_pkey_fromdata("RSA", bld);
    }
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    return pkey;
}

EVP_PKEY *warden_ec_public_key(const char *group, const uint8_t *point, size_t point_len) {
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bld &&
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, strlen(group)) == 1 &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, point_len) == 1) {
        pkey = warden_pkey_fromdata("EC", bld);
    }
    OSSL_PARAM_BLD_free(bld);
    return pkey;
}

#include <openssl/pem.h>
#include <openssl/x509v3.h>

/* Copies an ASN1 string into out (cap bytes); returns its length, or -1 if it does not fit. */
static int warden_copy_asn1(const ASN1_STRING *s, char *out, size_t cap) {
    int len = ASN1_STRING_length(s);
    if (len < 0 || (size_t)len >= cap) return -1;
    memcpy(out, ASN1_STRING_get0_data(s), (size_t)len);
    return len;
}

int warden_x509_peer_identity(const char *pem, size_t pem_len, char *out, size_t cap) {
    if (pem_len > 1 << 20) return -1;
    BIO *bio = BIO_new_mem_buf(pem, (int)pem_len);
    if (bio == NULL) return -1;
    X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (cert == NULL) return -1;
    int written = -1;
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    /* As Envoy's ext_authz fills source.principal: the first URI SAN, else the first DNS SAN. */
    static const int order[2] = {GEN_URI, GEN_DNS};
    for (int pass = 0; pass < 2 && names != NULL && written < 0; pass++) {
        for (int i = 0; i < sk_GENERAL_NAME_num(names) && written < 0; i++) {
            const GENERAL_NAME *name = sk_GENERAL_NAME_value(names, i);
            if (name->type == order[pass]) written = warden_copy_asn1(name->d.ia5, out, cap);
        }
    }
    GENERAL_NAMES_free(names);
    if (written < 0) {  /* else the subject, RFC 2253 */
        BIO *mem = BIO_new(BIO_s_mem());
        if (mem != NULL && X509_NAME_print_ex(mem, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
            char *data = NULL;
            long len = BIO_get_mem_data(mem, &data);
            if (len >= 0 && (size_t)len < cap) {
                memcpy(out, data, (size_t)len);
                written = (int)len;
            }
        }
        BIO_free(mem);
    }
    X509_free(cert);
    return written;
}
