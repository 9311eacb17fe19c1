/* tls.c - see tls.h. */
#include "daemon/tls.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/base/afile.h"

/* A chain longer than this is a mistake (a CA bundle given as cert_file). */
enum { CHAIN_MAX = 16 };
/* A PEM certificate chain or key is a few kilobytes; a file far larger is not one. */
#define PEM_MAX ((size_t)1 << 20)

const char TLS_PRIORITIES[] = "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";

struct tls_pair {
    gnutls_pcert_st certs[CHAIN_MAX];
    unsigned ncerts;
    gnutls_privkey_t key;
    char fingerprint[3 * 32];
    time_t expires;
    tls_pair *retired; /* the pair served before this one */
};

static _Atomic(tls_pair *) serving;

void tls_pair_free(tls_pair *p)
{
    if (!p)
        return;
    for (unsigned i = 0; i < p->ncerts; i++)
        gnutls_pcert_deinit(&p->certs[i]);
    gnutls_privkey_deinit(p->key);
    free(p);
}

/* The whole of a PEM file, checked as a regular file (a FIFO there must not hang the
 * start) that holds a PEM block; secret: refused when others may read it. */
static glia_status read_pem(const char *path, const char *what, int secret, gnutls_datum_t *out,
                            glia_err *err)
{
    struct stat st;
    char *data = NULL;
    size_t len = 0;
    if (stat(path, &st) != 0)
        return glia_err_set(err, GLIA_EIO, "%s: cannot read the TLS %s: %s", path, what, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return glia_err_set(err, GLIA_EINVAL, "%s: the TLS %s is not a regular file", path, what);
    if (secret && (st.st_mode & 007))
        return glia_err_set(err, GLIA_EINVAL,
                            "%s: the TLS %s is readable by others (mode %03o): chmod o-rwx it (and keep it "
                            "readable by gliad's user or group only)",
                            path, what, (unsigned)(st.st_mode & 0777));
    glia_status rc = glia_file_read(path, PEM_MAX, what, &data, &len, err);
    if (rc)
        return rc;
    if (!strstr(data, "-----BEGIN ")) {
        free(data);
        return glia_err_set(err, GLIA_EFORMAT, "%s: the TLS %s is not PEM (no \"-----BEGIN\" line)", path,
                            what);
    }
    out->data = (unsigned char *)data;
    out->size = (unsigned)len;
    return GLIA_OK;
}

/* The SHA-256 key id of a public key into id[32]. */
static int key_id(gnutls_pubkey_t pub, unsigned char *id)
{
    size_t n = 32;
    return gnutls_pubkey_get_key_id(pub, GNUTLS_KEYID_USE_SHA256, id, &n) == 0 && n == 32 ? 0 : -1;
}

/* 1 if key is the private half of the certificate's public key. */
static int key_matches(gnutls_privkey_t key, gnutls_pubkey_t cert_pub)
{
    gnutls_pubkey_t pub = NULL;
    unsigned char a[32], b[32];
    int same = gnutls_pubkey_init(&pub) == 0 && gnutls_pubkey_import_privkey(pub, key, 0, 0) == 0 &&
               key_id(pub, a) == 0 && key_id(cert_pub, b) == 0 && memcmp(a, b, 32) == 0;
    gnutls_pubkey_deinit(pub);
    return same;
}

/* The leaf's fingerprint and expiry, for the log. */
static void describe_leaf(tls_pair *p)
{
    unsigned char digest[32];
    size_t n = sizeof digest;
    gnutls_x509_crt_t crt = NULL;
    if (gnutls_fingerprint(GNUTLS_DIG_SHA256, &p->certs[0].cert, digest, &n) == 0)
        for (size_t i = 0, at = 0; i < n; i++)
            at += (size_t)snprintf(p->fingerprint + at, sizeof p->fingerprint - at, "%s%02X", i ? ":" : "",
                                   digest[i]);
    p->expires = -1;
    if (gnutls_pcert_export_x509(&p->certs[0], &crt) == 0)
        p->expires = gnutls_x509_crt_get_expiration_time(crt);
    gnutls_x509_crt_deinit(crt);
}

glia_status tls_pair_load(const char *cert_file, const char *key_file, tls_pair **out, glia_err *err)
{
    gnutls_datum_t cert = {NULL, 0}, key = {NULL, 0};
    glia_status rc;
    int g;
    *out = NULL;
    tls_pair *p = calloc(1, sizeof *p);
    if (!p)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory loading %s", cert_file);
    if ((rc = read_pem(cert_file, "certificate file", 0, &cert, err)) ||
        (rc = read_pem(key_file, "key file", 1, &key, err)))
        goto fail;
    /* GnuTLS would otherwise keep the first CHAIN_MAX certificates of a longer file, and
     * serve a chain in whatever order the file has */
    p->ncerts = CHAIN_MAX;
    g = gnutls_pcert_list_import_x509_raw(p->certs, &p->ncerts, &cert, GNUTLS_X509_FMT_PEM,
                                          GNUTLS_X509_CRT_LIST_IMPORT_FAIL_IF_EXCEED |
                                              GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED);
    if (g < 0) {
        p->ncerts = 0;
        rc = glia_err_set(err, GLIA_EFORMAT, "%s: not a PEM certificate chain%s: %s", cert_file,
                          g == GNUTLS_E_SHORT_MEMORY_BUFFER         ? " of at most 16 certificates"
                          : g == GNUTLS_E_CERTIFICATE_LIST_UNSORTED ? " in order (the server's certificate "
                                                                      "first, each followed by its issuer)"
                                                                    : "",
                          gnutls_strerror(g));
        goto fail;
    }
    if ((g = gnutls_privkey_init(&p->key)) < 0 ||
        (g = gnutls_privkey_import_x509_raw(p->key, &key, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
        rc = glia_err_set(err, GLIA_EFORMAT,
                          "%s: not a PEM private key gliad can use (unencrypted RSA, ECDSA or Ed25519): %s",
                          key_file, gnutls_strerror(g));
        goto fail;
    }
    if (!key_matches(p->key, p->certs[0].pubkey)) {
        rc = glia_err_set(err, GLIA_EINVAL, "%s: the key is not the one of the certificate in %s", key_file,
                          cert_file);
        goto fail;
    }
    describe_leaf(p);
    *out = p;
    p = NULL;
fail:
    tls_pair_free(p);
    /* the key's bytes are a secret: not left in freed memory */
    if (key.data)
        gnutls_memset(key.data, 0, key.size);
    free(key.data);
    free(cert.data);
    return rc;
}

void tls_pair_describe(const tls_pair *p, char *buf, size_t len)
{
    char when[64] = "an unreadable date";
    struct tm tm;
    if (p->expires != -1 && gmtime_r(&p->expires, &tm))
        strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
    snprintf(buf, len, "SHA-256 %s, %s %s", p->fingerprint,
             p->expires != -1 && p->expires < time(NULL) ? "EXPIRED on" : "expires", when);
}

/* Swaps and retires under one lock so that two swaps never lose a pair; tls_retrieve
 * only loads the pointer. */
static pthread_mutex_t swap_mu = PTHREAD_MUTEX_INITIALIZER;

/* 1 if a and b hold the same certificate chain (and so the same key: the key was checked
 * to be the leaf's). */
static int same_chain(const tls_pair *a, const tls_pair *b)
{
    if (!a || !b || a->ncerts != b->ncerts)
        return 0;
    for (unsigned i = 0; i < a->ncerts; i++)
        if (a->certs[i].cert.size != b->certs[i].cert.size ||
            memcmp(a->certs[i].cert.data, b->certs[i].cert.data, a->certs[i].cert.size) != 0)
            return 0;
    return 1;
}

int tls_serve(tls_pair *p)
{
    pthread_mutex_lock(&swap_mu);
    tls_pair *old = atomic_load(&serving);
    int changed = !same_chain(old, p);
    if (changed) {
        p->retired = old;
        atomic_store(&serving, p);
    }
    pthread_mutex_unlock(&swap_mu);
    if (!changed)
        tls_pair_free(p);
    return changed;
}

int tls_serving(void)
{
    return atomic_load(&serving) != NULL;
}

void tls_clear(void)
{
    pthread_mutex_lock(&swap_mu);
    tls_pair *p = atomic_exchange(&serving, NULL);
    pthread_mutex_unlock(&swap_mu);
    while (p) {
        tls_pair *older = p->retired;
        tls_pair_free(p);
        p = older;
    }
}

int tls_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                 const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length, gnutls_pcert_st **pcert,
                 unsigned int *pcert_length, gnutls_privkey_t *privkey)
{
    (void)session;
    (void)req_ca_rdn;
    (void)nreqs;
    (void)pk_algos;
    (void)pk_algos_length;
    tls_pair *p = atomic_load(&serving);
    if (!p)
        return -1;
    *pcert = p->certs;
    *pcert_length = p->ncerts;
    *privkey = p->key;
    return 0;
}
