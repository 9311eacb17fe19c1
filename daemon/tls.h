/*
 * tls.h - gliad's certificate and key for HTTPS: read and checked with GnuTLS before
 * libmicrohttpd sees them, and swapped on reload without a restart.
 *
 * A pair is loaded and checked here, so that a bad file stops the start (or a reload)
 * with a message naming the file and what is wrong with it (missing, unreadable, not PEM,
 * open to everyone, the key not the certificate's), not with libmicrohttpd's generic one.
 *
 * The serving pair is handed to GnuTLS per handshake by tls_retrieve, the certificate
 * callback libmicrohttpd installs (MHD_OPTION_HTTPS_CERT_CALLBACK). That callback gets no
 * user pointer, so the serving pair is this module's, one per process (gliad has one
 * listener). tls_serve swaps it atomically: new handshakes get the new pair at once. A
 * pair swapped out is not freed then, as a handshake on another of MHD's threads may still
 * be using it (GnuTLS borrows the certificate and key for the whole handshake, and we are
 * not told when it ends): retired pairs are kept until tls_clear, after MHD has stopped.
 * A pair is a few kilobytes, only a changed certificate is retired, and renewals are rare,
 * so that costs nothing worth a scheme.
 *
 * Never called with a lock held by MHD in mind: tls_retrieve takes no lock at all.
 */
#ifndef GLIAD_TLS_H
#define GLIAD_TLS_H

#include <gnutls/abstract.h>
#include <stddef.h>

#include "core/base/err.h"

typedef struct tls_pair tls_pair;

/* The GnuTLS priority string MHD is given: GnuTLS's defaults, TLS 1.2 and 1.3 only
 * (SSL 3.0, TLS 1.0 and 1.1 are refused at the handshake). */
extern const char TLS_PRIORITIES[];

/* Reads and checks cert_file (PEM: the certificate, then its chain) and key_file (PEM,
 * unencrypted, not readable by others), and that the key is the certificate's. */
glia_status tls_pair_load(const char *cert_file, const char *key_file, tls_pair **out, glia_err *err);
void tls_pair_free(tls_pair *p); /* NULL-safe; only for a pair never served */

/* What a log line says of a pair: its SHA-256 fingerprint (hex, colon-separated) and when
 * the certificate expires, e.g. "SHA-256 AB:CD:..., expires 2027-12-07 05:49 UTC". */
void tls_pair_describe(const tls_pair *p, char *buf, size_t len);

/* Makes p the pair new handshakes get (steals p); the one served before is retired.
 * Returns 0 (p freed, nothing retired) when p holds the chain already served: a reload
 * that changed nothing costs no memory until tls_clear. */
int tls_serve(tls_pair *p);
/* 1 once a pair is served. */
int tls_serving(void);
/* Frees the served and retired pairs: only once MHD has stopped. */
void tls_clear(void);

/* The serving pair for a handshake: GnuTLS's gnutls_certificate_retrieve_function2, for
 * MHD_OPTION_HTTPS_CERT_CALLBACK. -1 (the handshake fails) while none is served. */
gnutls_certificate_retrieve_function2 tls_retrieve;

#endif
