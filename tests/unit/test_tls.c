/*
 * test_tls.c - gliad's certificate and key: pairs made here with GnuTLS (a self-signed
 * ECDSA certificate, its key, another key), written as PEM files and loaded as gliad loads
 * them: a good pair, every refusal with the file named (missing, a directory, not PEM, a
 * PEM block that is no certificate, a key readable by others, a key of another
 * certificate, a chain over 16), the fingerprint and expiry a log line shows, and the
 * serving pair as the handshake callback hands it out across swaps.
 */
#include "daemon/tls.h"
#include "tests/support/check_main.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static char tmpdir[256];

static void setup(void)
{
    glia_test_mkdtemp(tmpdir, sizeof tmpdir, "tls");
}

static void teardown(void)
{
    tls_clear();
    glia_test_rmtree(tmpdir);
}

/* A new P-256 key as PEM (malloc'd). */
static char *new_key(gnutls_x509_privkey_t *key)
{
    gnutls_datum_t pem;
    ck_assert_int_eq(gnutls_x509_privkey_init(key), 0);
    ck_assert_int_eq(gnutls_x509_privkey_generate(*key, GNUTLS_PK_ECDSA,
                                                  GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0),
                     0);
    ck_assert_int_eq(gnutls_x509_privkey_export2(*key, GNUTLS_X509_FMT_PEM, &pem), 0);
    char *text = strndup((const char *)pem.data, pem.size);
    gnutls_free(pem.data);
    return text;
}

/* A certificate for key named cn, self-signed, valid from `from` for `seconds`, as PEM
 * (malloc'd); its DER's SHA-256 into sha (32 bytes). */
static char *new_cert(gnutls_x509_privkey_t key, const char *cn, time_t from, long seconds,
                      unsigned char *sha)
{
    static unsigned char serial = 1;
    gnutls_x509_crt_t crt;
    gnutls_datum_t pem, der;
    size_t n = 32;
    serial++;
    ck_assert_int_eq(gnutls_x509_crt_init(&crt), 0);
    ck_assert_int_eq(gnutls_x509_crt_set_version(crt, 3), 0);
    ck_assert_int_eq(gnutls_x509_crt_set_serial(crt, &serial, 1), 0);
    ck_assert_int_eq(gnutls_x509_crt_set_activation_time(crt, from), 0);
    ck_assert_int_eq(gnutls_x509_crt_set_expiration_time(crt, from + seconds), 0);
    ck_assert_int_eq(
        gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn, (unsigned)strlen(cn)), 0);
    ck_assert_int_eq(gnutls_x509_crt_set_key(crt, key), 0);
    ck_assert_int_eq(gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0), 0);
    ck_assert_int_eq(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &pem), 0);
    ck_assert_int_eq(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der), 0);
    ck_assert_int_eq(gnutls_fingerprint(GNUTLS_DIG_SHA256, &der, sha, &n), 0);
    char *text = strndup((const char *)pem.data, pem.size);
    gnutls_free(pem.data);
    gnutls_free(der.data);
    gnutls_x509_crt_deinit(crt);
    return text;
}

/* Writes text to tmpdir/name with mode; returns the path (static, one per slot). */
static const char *put(int slot, const char *name, const char *text, mode_t mode)
{
    static char paths[4][512];
    snprintf(paths[slot], sizeof paths[slot], "%s", glia_test_write(tmpdir, name, text));
    ck_assert_int_eq(chmod(paths[slot], mode), 0);
    return paths[slot];
}

/* Loading cert and key fails, and the message holds want. */
static void refused(const char *cert, const char *key, const char *want)
{
    tls_pair *p = (tls_pair *)1;
    glia_err err = {0};
    ck_assert_msg(tls_pair_load(cert, key, &p, &err) != GLIA_OK, "%s with %s accepted (want: %s)", cert, key,
                  want);
    ck_assert_ptr_null(p);
    ck_assert_msg(strstr(err.msg, want), "'%s' lacks '%s'", err.msg, want);
}

START_TEST(good_and_bad_pairs)
{
    gnutls_x509_privkey_t k1, k2;
    unsigned char sha[32];
    char *key1 = new_key(&k1), *key2 = new_key(&k2);
    char *cert1 = new_cert(k1, "localhost", time(NULL) - 60, 86400, sha);
    const char *cert = put(0, "cert.pem", cert1, 0644), *key = put(1, "key.pem", key1, 0600);
    tls_pair *p = NULL;
    glia_err err = {0};
    char text[256], want[128];

    ck_assert_msg(tls_pair_load(cert, key, &p, &err) == GLIA_OK, "%s", err.msg);
    tls_pair_describe(p, text, sizeof text);
    snprintf(want, sizeof want, "SHA-256 %02X:%02X:%02X:", sha[0], sha[1], sha[2]);
    ck_assert_msg(strncmp(text, want, strlen(want)) == 0 && strstr(text, ", expires 20"), "%s", text);
    tls_pair_free(p);
    ck_assert_int_eq(chmod(key, 0640), 0); /* group-readable (e.g. Debian's ssl-cert) is fine */
    ck_assert_msg(tls_pair_load(cert, key, &p, &err) == GLIA_OK, "%s", err.msg);
    tls_pair_free(p);

    refused(cert, put(2, "other.key", key2, 0600), "other.key: the key is not the one of the certificate in");
    refused(cert, put(2, "open.key", key1, 0604),
            "open.key: the TLS key file is readable by others (mode 604)");
    refused(put(2, "nothing.pem", "", 0644), key, "nothing.pem: the TLS certificate file is not PEM");
    refused(put(2, "junk.pem", "-----BEGIN CERTIFICATE-----\nbm9wZQ==\n-----END CERTIFICATE-----\n", 0644),
            key, "junk.pem: not a PEM certificate chain");
    refused(cert,
            put(2, "junk.key", "-----BEGIN PRIVATE KEY-----\nbm9wZQ==\n-----END PRIVATE KEY-----\n", 0600),
            "junk.key: not a PEM private key gliad can use");
    refused(cert, cert, "key file is readable by others"); /* the certificate given as the key */
    refused("/nonexistent/cert.pem", key, "/nonexistent/cert.pem: cannot read the TLS certificate file");
    refused(tmpdir, key, "the TLS certificate file is not a regular file");

    /* a chain of 17: more than any server sends, so the file is something else (a CA bundle) */
    size_t one = strlen(cert1);
    char *chain = malloc(17 * one + 1);
    for (int i = 0; i < 17; i++)
        memcpy(chain + i * one, cert1, one);
    chain[17 * one] = '\0';
    refused(put(2, "bundle.pem", chain, 0644), key, "of at most 16 certificates");
    /* two certificates where the second did not issue the first */
    char *cert2 = new_cert(k2, "other.example", time(NULL) - 60, 86400, sha);
    snprintf(chain, 17 * one + 1, "%s%s", cert1, cert2);
    refused(put(2, "unsorted.pem", chain, 0644), key, "in order (the server's certificate first");
    free(cert2);
    for (int i = 0; i < 17; i++)
        memcpy(chain + i * one, cert1, one);
    /* 16 is fine */
    chain[16 * one] = '\0';
    ck_assert_msg(tls_pair_load(put(2, "chain.pem", chain, 0644), key, &p, &err) == GLIA_OK, "%s", err.msg);
    tls_pair_free(p);
    tls_pair_free(NULL);

    /* an expired certificate loads (gliad warns in its log line) */
    free(cert1);
    cert1 = new_cert(k1, "localhost", time(NULL) - 7200, 3600, sha);
    ck_assert_msg(tls_pair_load(put(0, "cert.pem", cert1, 0644), key, &p, &err) == GLIA_OK, "%s", err.msg);
    tls_pair_describe(p, text, sizeof text);
    ck_assert_msg(strstr(text, ", EXPIRED on 20"), "%s", text);
    tls_pair_free(p);

    free(chain);
    free(cert1);
    free(key1);
    free(key2);
    gnutls_x509_privkey_deinit(k1);
    gnutls_x509_privkey_deinit(k2);
}
END_TEST

/* The DER of the leaf the handshake callback hands out now, or NULL when it refuses. */
static const gnutls_datum_t *served_leaf(void)
{
    gnutls_pcert_st *pcert = NULL;
    unsigned n = 0;
    gnutls_privkey_t key = NULL;
    if (tls_retrieve(NULL, NULL, 0, NULL, 0, &pcert, &n, &key) != 0)
        return NULL;
    ck_assert(n == 1 && pcert && key);
    return &pcert[0].cert;
}

static int is_cert(const gnutls_datum_t *der, const unsigned char *sha)
{
    unsigned char got[32];
    size_t n = sizeof got;
    return der && gnutls_fingerprint(GNUTLS_DIG_SHA256, der, got, &n) == 0 && memcmp(got, sha, 32) == 0;
}

START_TEST(serving_and_swapping)
{
    gnutls_x509_privkey_t k1, k2;
    unsigned char sha1[32], sha2[32];
    char *key1 = new_key(&k1), *key2 = new_key(&k2);
    char *cert1 = new_cert(k1, "localhost", time(NULL) - 60, 86400, sha1),
         *cert2 = new_cert(k2, "localhost", time(NULL) - 60, 86400, sha2);
    tls_pair *p;
    glia_err err = {0};

    ck_assert(!tls_serving());
    ck_assert_ptr_null(served_leaf()); /* a handshake before any pair fails */
    ck_assert_int_eq(tls_pair_load(put(0, "a.crt", cert1, 0644), put(1, "a.key", key1, 0600), &p, &err),
                     GLIA_OK);
    ck_assert_int_eq(tls_serve(p), 1);
    ck_assert(tls_serving() && is_cert(served_leaf(), sha1));
    /* the same files again: nothing changes, the copy is freed (ASan would see a leak) */
    ck_assert_int_eq(tls_pair_load(put(0, "a.crt", cert1, 0644), put(1, "a.key", key1, 0600), &p, &err),
                     GLIA_OK);
    ck_assert_int_eq(tls_serve(p), 0);
    const gnutls_datum_t *before = served_leaf();
    ck_assert(is_cert(before, sha1));
    /* a new pair: served from now on; the old one stays readable (a handshake may hold it) */
    ck_assert_int_eq(tls_pair_load(put(0, "b.crt", cert2, 0644), put(1, "b.key", key2, 0600), &p, &err),
                     GLIA_OK);
    ck_assert_int_eq(tls_serve(p), 1);
    ck_assert(is_cert(served_leaf(), sha2));
    ck_assert(is_cert(before, sha1));
    tls_clear();
    ck_assert(!tls_serving());
    ck_assert_ptr_null(served_leaf());

    free(cert1);
    free(cert2);
    free(key1);
    free(key2);
    gnutls_x509_privkey_deinit(k1);
    gnutls_x509_privkey_deinit(k2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tls");
    TCase *tc = tcase_create("tls");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, good_and_bad_pairs);
    tcase_add_test(tc, serving_and_swapping);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
