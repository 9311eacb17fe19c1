/*
 * config.h - gliad's configuration file (etc/gliad.yaml documents every key).
 *
 * Read strictly: an unknown key or a bad value is an error naming the file, the line
 * and column, and the key, so a typo stops the start (or the reload) instead of being
 * silently ignored. Relative paths (model bundles, token files) resolve against the
 * config file's directory. This module only reads; it never applies anything.
 */
#ifndef GLIAD_CONFIG_H
#define GLIAD_CONFIG_H

#include "core/base/err.h"

enum { CONFIG_PATH_MAX = 4096 };

/* log.level; the same numbers as daemon/log.h's LOG_* (config.c checks), so that
 * log_set_level(cfg.log_level) needs no table. */
enum { CONFIG_LOG_ERROR = 0, CONFIG_LOG_WARN = 1, CONFIG_LOG_INFO = 2, CONFIG_LOG_DEBUG = 3 };

typedef struct {
    char name[128];             /* [A-Za-z0-9._-]{1,64}, unique */
    char path[CONFIG_PATH_MAX]; /* bundle directory or model.yaml */
    int precision;              /* 'precision': a glia_precision overriding the manifest's; -1: none */
} config_model;

/* ---- the model repository (model_repository:, repository:; issue 14) ---- */
enum { CONFIG_POLICY_LATEST = 0, CONFIG_POLICY_SPECIFIC = 1, CONFIG_POLICY_ALL = 2 };
enum { CONFIG_POLICY_MAX = 32 }; /* versions one policy may name; registry.h's REGISTRY_MAX_VERSIONS */

/* Which versions on disk a repository model loads. */
typedef struct {
    int kind;      /* CONFIG_POLICY_* */
    int latest;    /* LATEST: the N highest numbers, 1..CONFIG_POLICY_MAX */
    int nspecific; /* SPECIFIC: these numbers (those on disk) */
    long specific[CONFIG_POLICY_MAX];
} config_policy;

/* repository.models[i]: one repository model's own policy and initial labels. */
typedef struct {
    char name[128];
    int has_policy;
    config_policy policy;
    int has_labels;
    long stable, canary; /* 0: none */
    int canary_percent;  /* 0..100 */
    int precision;       /* 'precision': a glia_precision for every version; -1: each manifest's */
} config_repo_model;

typedef struct {
    char path[CONFIG_PATH_MAX]; /* the file read */
    char listen[256];           /* IPv4 or IPv6 literal; default 127.0.0.1 */
    int port;                   /* default 8080; 0 = any free port */
    int workers;                /* inference threads, 0..256; 0 = one per online core */
    int queue_length;           /* queued requests at most, 1..1000000; default 256 */
    int request_timeout_ms;     /* 1..3600000; default 5000 */
    int batch_max_size;         /* samples per batch, 1..4096; default 32 */
    int batch_max_wait_us;      /* 0..1000000; default 500 */
    long body_limit;            /* bytes, 1 KiB..1 GiB; default 8 MiB */
    int drain_timeout_ms;       /* 0..3600000; default 10000 */
    int blas_threads;           /* OpenBLAS threads for the process, 1..256; default 1 */
    int train_threads;          /* trainer threads of a training job, 1..64; default 1 */
    int train_nice;             /* niceness added to the training thread, 0..19; default 19 */
    int train_max_queued;       /* training jobs waiting at most, 1..10000; default 16 */
    int train_enabled;          /* training.enabled: 0 = this replica runs no job (issue 16); default 1 */
    long max_dataset_bytes;     /* one POST /v1/datasets upload at most, 1 KiB..64 GiB; default 256 MiB */
    int nmodels;
    config_model *models; /* owned */
    char state_dir[CONFIG_PATH_MAX];
    char admin_token_file[CONFIG_PATH_MAX];     /* "" = admin routes disabled */
    char inference_token_file[CONFIG_PATH_MAX]; /* "" = inference open */
    int log_level;                              /* CONFIG_LOG_ERROR .. CONFIG_LOG_DEBUG */
    int log_json;                               /* log.format: 0 text (default), 1 json (issue 14) */

    /* Connections (limits.*): open at most (2..1000000; default 1000), from one client
     * address at most (0..1000000, 0 = no limit; default 64), slots kept free for new
     * clients by closing idle or unfinished ones (1..connections-1; default 50); the
     * deadlines of a kept-alive connection waiting for a request, of a request's headers
     * and of its body (ms, 100..3600000; defaults 30000, 10000, 30000), and the rate a body
     * may arrive at beyond its deadline (bytes/s, 1..1GiB; default 64 KiB). */
    int max_connections;
    int connections_per_client;
    int connections_reserve;
    int idle_timeout_ms;
    int header_timeout_ms;
    int body_timeout_ms;
    long body_min_rate;

    /* work per request (limits.*; 413 beyond, naming the key) and fairness across models */
    long max_pixels;              /* one image's width x height, read from its header; default 4 Mi */
    long max_request_pixels;      /* a request's images x pixels; default 16 Mi */
    long max_request_tokens;      /* a text classifier request's tokens, all texts; default 64 Ki */
    long max_translation_tokens;  /* a translation request's sentences x beam_size x max_tokens; 128 Ki */
    long translation_turn_tokens; /* the same, decoded per turn before the worker takes other work */
    int model_workers;            /* workers one model may hold; 0 = workers - 1 if several models */

    /* TLS and CORS (issue 14). listen.tls: PEM certificate (chain) and key; "" = plain HTTP. */
    char tls_cert_file[CONFIG_PATH_MAX];
    char tls_key_file[CONFIG_PATH_MAX];
    /* cors.allowed_origins: exact origins, or "*" alone; none = no CORS headers. cors.max_age_s:
     * how long a browser may cache a preflight's answer, 0..86400; default 600. */
    int ncors_origins;
    char (*cors_origins)[256]; /* owned */
    int cors_max_age_s;
    /* the model repository: DIR/<model>/<version>/ ("" = none), polled every
     * repo_poll_interval_ms (0 = only on SIGHUP and the repository routes; default 5000),
     * each model loading what repo_policy (default latest 1) or its own entry names */
    char model_repository[CONFIG_PATH_MAX];
    int repo_poll_interval_ms;
    /* repository.shared_labels (issue 16): 1 = labels live in DIR/<model>/labels, read at
     * every scan, so replicas sharing the repository share them; 0 (default) = per replica,
     * in state_dir */
    int repo_shared_labels;
    config_policy repo_policy;
    int nrepo_models;
    config_repo_model *repo_models; /* owned */
    /* console (issue 15): the web console's static files served at / and /console/NAME
     * from console_dir (default: where meson installs them, GLIA_CONSOLE_DIR); enabled 0 =
     * those paths answer 404. Both change only with a restart. */
    int console_enabled;
    char console_dir[CONFIG_PATH_MAX];
} config;

/* Repository model name's entry (labels, policy), or NULL. */
const config_repo_model *config_repo_model_find(const config *cfg, const char *name);

void config_defaults(config *cfg);
/* Defaults, then the file. On failure cfg holds nothing to free. */
glia_status config_load(const char *path, config *cfg, glia_err *err);
void config_free(config *cfg);

/* Reads a secret token: trailing whitespace trimmed; refused if empty, over 4 KiB, or
 * readable by group or others. *token is malloc'd. */
glia_status config_read_token(const char *path, char **token, glia_err *err);

#endif
