/* pull.c - edgectl pull: libcurl transfers into FILE.part (Range resume,
 * redirects, stall timeout), then mbedTLS SHA-256 and edgectl's own GGUF
 * reader (gguf_check.h) before an fsync'd rename into place. Statuses and
 * messages follow ctl.h; a cut-off transfer keeps FILE.part for a resume. */
#include "pull.h"

#include "progress.h"

#include "gguf_check.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <libgen.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SHA256_HEX_LEN 64

typedef struct {
    const char *url;
    char host[256];   /* for "cannot reach HOST" */
    char *file;       /* the final path (owned) */
    char *part;       /* FILE.part (owned) */
    char sha256[SHA256_HEX_LEN + 1]; /* expected, lowercase hex; "" if not given */
} pull_args_t;

/* One HTTP transfer into the part file. */
typedef struct {
    int fd;               /* the part file, O_APPEND; -1 until the first body byte */
    const char *part;
    uint64_t offset;      /* bytes of the part file this transfer continues from */
    uint64_t written;     /* body bytes written by this transfer */
    long status;          /* status of the latest response */
    char reason[64];      /* its reason phrase */
    int64_t range_start;  /* Content-Range first byte, -1 if none */
    int64_t range_total;  /* Content-Range complete length, -1 if none or unknown */
    long http_error;      /* a non-2xx final status stopped the transfer; 0 if none */
    int write_errno;      /* writing the part file failed; 0 if not */
    int range_mismatch;   /* a 206 that does not continue at `offset` */
    double stall_limit_s; /* no body byte for this long ends the transfer */
    double last_byte_s;   /* monotonic seconds when the last body byte (or the start) came */
    int stalled;          /* the transfer was ended for stalling */
    ed_progress_t progress;
    CURL *curl;
} transfer_t;

static int parse_args(int argc, char **argv, pull_args_t *args)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *value = NULL;
        if (strcmp(a, "--sha256") == 0 || strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "edgectl: pull: %s needs a value\n", a);
                return ED_CTL_EUSAGE;
            }
            value = argv[++i];
        } else if (strncmp(a, "--sha256=", 9) == 0 || strncmp(a, "--output=", 9) == 0) {
            value = a + 9;
        }
        if (value && strncmp(a, "--sha256", 8) == 0) {
            size_t n = strlen(value);
            for (size_t k = 0; k < n && n == SHA256_HEX_LEN; k++)
                if (!strchr("0123456789abcdefABCDEF", value[k]))
                    n = 0;
            if (n != SHA256_HEX_LEN) {
                fprintf(stderr, "edgectl: pull: --sha256: expected 64 hex digits, got \"%s\"\n",
                        value);
                return ED_CTL_EUSAGE;
            }
            for (size_t k = 0; k < n; k++)
                args->sha256[k] = (char)(value[k] | 0x20); /* lowercase */
            args->sha256[n] = '\0';
        } else if (value) {
            free(args->file);
            args->file = strdup(value);
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "edgectl: pull: unknown option '%s' (see 'edgectl pull --help')\n", a);
            return ED_CTL_EUSAGE;
        } else if (args->url) {
            fprintf(stderr, "edgectl: pull: one URL only (got '%s' and '%s')\n", args->url, a);
            return ED_CTL_EUSAGE;
        } else {
            args->url = a;
        }
    }
    if (!args->url) {
        fprintf(stderr, "edgectl: pull: no URL given (see 'edgectl pull --help')\n");
        return ED_CTL_EUSAGE;
    }

    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *path = NULL;
    int ok = u && curl_url_set(u, CURLUPART_URL, args->url, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_PATH, &path, CURLU_URLDECODE) == CURLUE_OK &&
             (strcasecmp(scheme, "http") == 0 || strcasecmp(scheme, "https") == 0);
    if (ok) {
        snprintf(args->host, sizeof args->host, "%s", host);
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        if (!args->file && *base && strcmp(base, ".") != 0 && strcmp(base, "..") != 0)
            args->file = strdup(base);
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(path);
    curl_url_cleanup(u);
    if (!ok) {
        fprintf(stderr, "edgectl: pull: '%s' is not an http:// or https:// URL\n", args->url);
        return ED_CTL_EUSAGE;
    }
    if (!args->file || !*args->file) {
        fprintf(stderr, "edgectl: pull: cannot name the file after '%s': give -o FILE\n", args->url);
        return ED_CTL_EUSAGE;
    }
    size_t n = strlen(args->file);
    args->part = malloc(n + 6);
    if (!args->part)
        return ED_CTL_EDOWNLOAD;
    memcpy(args->part, args->file, n);
    memcpy(args->part + n, ".part", 6);
    return ED_CTL_OK;
}

/* ---------------------------------------------------------------- transfer ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t on_header(char *line, size_t size, size_t n, void *user)
{
    transfer_t *t = user;
    size_t len = size * n;
    if (len > 5 && strncmp(line, "HTTP/", 5) == 0) { /* a new response begins */
        const char *sp = memchr(line, ' ', len);
        t->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        const char *space = sp ? memchr(sp + 1, ' ', len - (size_t)(sp + 1 - line)) : NULL;
        const char *reason = space ? space + 1 : line + len;
        size_t reason_len = len - (size_t)(reason - line);
        while (reason_len && (reason[reason_len - 1] == '\r' || reason[reason_len - 1] == '\n'))
            reason_len--;
        snprintf(t->reason, sizeof t->reason, "%.*s", (int)reason_len, reason);
        t->range_start = t->range_total = -1;
    } else if (len > 14 && strncasecmp(line, "Content-Range:", 14) == 0) {
        char text[128];
        snprintf(text, sizeof text, "%.*s", (int)(len - 14), line + 14);
        long long first, last, total;
        if (sscanf(text, " bytes %lld-%lld/%lld", &first, &last, &total) == 3) {
            t->range_start = first;
            t->range_total = total;
        } else if (sscanf(text, " bytes %lld-%lld/*", &first, &last) == 2) {
            t->range_start = first;
        } else if (sscanf(text, " bytes */%lld", &total) == 1) {
            t->range_total = total;
        }
    }
    return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *user)
{
    transfer_t *t = user;
    size_t len = size * n;
    if (t->fd < 0) { /* the first byte of the final response's body */
        if (t->status < 200 || t->status > 299) {
            t->http_error = t->status;
            return 0; /* stops the transfer: the body is an error page */
        }
        if (t->status == 206 && t->range_start != (int64_t)t->offset) {
            t->range_mismatch = 1;
            return 0;
        }
        int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC;
        if (t->status == 200) /* the whole file: a Range was not asked for or not honoured */
            flags |= O_TRUNC;
        t->fd = open(t->part, flags, 0644);
        if (t->fd < 0) {
            t->write_errno = errno;
            return 0;
        }
        if (t->status == 200 && t->offset) {
            t->offset = 0;
            ed_progress_init(&t->progress, t->progress.label, 0);
        }
    }
    for (size_t done = 0; done < len;) {
        ssize_t w = write(t->fd, data + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            t->write_errno = errno;
            return 0;
        }
        done += (size_t)w;
    }
    t->written += len;
    t->last_byte_s = now_s();
    return len;
}

/* Called by libcurl about once a second and whenever data moves. */
static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    transfer_t *t = user;
    if (now_s() - t->last_byte_s > t->stall_limit_s) {
        t->stalled = 1;
        return 1; /* aborts the transfer */
    }
    if (t->fd >= 0) {
        uint64_t total = dltotal > 0 ? t->offset + (uint64_t)dltotal : 0;
        ed_progress_update(&t->progress, t->offset + t->written, total);
    }
    return 0;
}

/* Runs one transfer from `offset`; returns the curl code (the transfer's
 * fields say what happened beyond it). */
static CURLcode transfer_run(transfer_t *t, const ed_ctl_t *ctl, const pull_args_t *args,
                             char errbuf[CURL_ERROR_SIZE])
{
    char range[32];
    snprintf(range, sizeof range, "%" PRIu64 "-", t->offset);
    long timeout_s = (ctl->timeout_ms + 999) / 1000;
    CURL *c = t->curl;
    curl_easy_reset(c);
    errbuf[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, args->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "edgectl");
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, timeout_s);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, t);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    if (t->offset)
        curl_easy_setopt(c, CURLOPT_RANGE, range);
    t->stall_limit_s = ctl->timeout_ms / 1000.0; /* on_progress ends a stalled transfer */
    t->last_byte_s = now_s();
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK && t->fd < 0 && (t->status < 200 || t->status > 299))
        t->http_error = t->status; /* an error answer without a body */
    if (t->fd >= 0 && rc == CURLE_OK)
        on_progress(t, 0, 0, 0, 0); /* the final state, e.g. 100% */
    return rc;
}

/* ---------------------------------------------------------------- checks ---- */

/* SHA-256 of the file at `path` as lowercase hex. */
static int sha256_file(const char *path, char hex[SHA256_HEX_LEN + 1], uint64_t *bytes)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    mbedtls_sha256_context ctx;
    mbedtls_sha256_init(&ctx);
    mbedtls_sha256_starts_ret(&ctx, 0);
    static unsigned char buf[1 << 20];
    ssize_t n;
    *bytes = 0;
    while ((n = read(fd, buf, sizeof buf)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        mbedtls_sha256_update_ret(&ctx, buf, (size_t)n);
        *bytes += (uint64_t)n;
    }
    int saved_errno = errno;
    unsigned char digest[32];
    mbedtls_sha256_finish_ret(&ctx, digest);
    mbedtls_sha256_free(&ctx);
    close(fd);
    if (n < 0) {
        errno = saved_errno;
        return -1;
    }
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    return 0;
}

/* Flushes the part file to disk, renames it into place, flushes the directory. */
static int install_file(const pull_args_t *args)
{
    int fd = open(args->part, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    if (rename(args->part, args->file) != 0)
        return -1;
    char *copy = strdup(args->file);
    int dir = copy ? open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (dir >= 0) {
        fsync(dir);
        close(dir);
    }
    free(copy);
    return 0;
}

/* Reports a failed transfer: message and exit status. */
static int transfer_failure(const pull_args_t *args, const transfer_t *t, CURLcode rc,
                            const char *errbuf, const ed_ctl_t *ctl)
{
    const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    if (t->http_error) {
        fprintf(stderr, "edgectl: pull: %s: HTTP %ld%s%s\n", args->url, t->http_error,
                t->reason[0] ? " " : "", t->reason);
        return ED_CTL_EANSWER;
    }
    if (t->write_errno) {
        fprintf(stderr, "edgectl: pull: cannot write %s: %s\n", args->part,
                strerror(t->write_errno));
        return ED_CTL_EDOWNLOAD;
    }
    if (t->range_mismatch) {
        fprintf(stderr, "edgectl: pull: %s: the server resumed at another offset than %" PRIu64
                        "; remove %s and try again\n",
                args->url, t->offset, args->part);
        return ED_CTL_EDOWNLOAD;
    }
    if (t->stalled)
        rc = CURLE_OPERATION_TIMEDOUT;
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        fprintf(stderr, "edgectl: cannot reach %s: %s\n", args->host, detail);
        return ED_CTL_ECONNECT;
    case CURLE_OPERATION_TIMEDOUT:
        fprintf(stderr, "edgectl: pull: %s: no progress within %d s: %s\n", args->host,
                (ctl->timeout_ms + 999) / 1000, detail);
        if (t->offset + t->written)
            fprintf(stderr, "edgectl: pull: %" PRIu64 " bytes kept in %s: run the same command "
                            "again to resume\n",
                    t->offset + t->written, args->part);
        return ED_CTL_ETIMEOUT;
    default:
        fprintf(stderr, "edgectl: pull: %s: the transfer failed: %s\n", args->url, detail);
        if (t->offset + t->written)
            fprintf(stderr, "edgectl: pull: %" PRIu64 " bytes kept in %s: run the same command "
                            "again to resume\n",
                    t->offset + t->written, args->part);
        return ED_CTL_EDOWNLOAD;
    }
}

/* Downloads into the part file: 0 when it holds the complete body. */
static int download(const ed_ctl_t *ctl, const pull_args_t *args, CURL *curl)
{
    struct stat st;
    uint64_t offset = stat(args->part, &st) == 0 ? (uint64_t)st.st_size : 0;
    if (offset)
        fprintf(stderr, "edgectl: pull: resuming %s at %" PRIu64 " bytes\n", args->part, offset);
    char errbuf[CURL_ERROR_SIZE];
    for (int attempt = 0; attempt < 2; attempt++) {
        transfer_t t = {.fd = -1, .part = args->part, .offset = offset, .curl = curl};
        ed_progress_init(&t.progress, args->file, offset);
        CURLcode rc = transfer_run(&t, ctl, args, errbuf);
        ed_progress_finish(&t.progress);
        if (t.fd >= 0)
            close(t.fd);
        if (t.http_error == 416 && offset) {
            /* Range not satisfiable: the part may already be complete, or stale. */
            if (t.range_total >= 0 && (uint64_t)t.range_total == offset)
                return ED_CTL_OK;
            fprintf(stderr, "edgectl: pull: %s does not fit the remote file; starting over\n",
                    args->part);
            offset = 0;
            continue;
        }
        if (rc == CURLE_OK && !t.http_error && t.fd >= 0)
            return ED_CTL_OK;
        if (rc == CURLE_OK && !t.http_error) { /* a 2xx with an empty body */
            fprintf(stderr, "edgectl: pull: %s: the server sent no data (HTTP %ld)\n", args->url,
                    t.status);
            return ED_CTL_EDOWNLOAD;
        }
        return transfer_failure(args, &t, rc, errbuf, ctl);
    }
    return ED_CTL_EDOWNLOAD;
}

int ed_ctl_pull(const ed_ctl_t *ctl, int argc, char **argv)
{
    pull_args_t args = {0};
    CURL *curl = NULL;
    int curl_ready = 0;
    int status = parse_args(argc, argv, &args);
    if (status != ED_CTL_OK)
        goto out;
    if (access(args.file, F_OK) == 0) {
        fprintf(stderr, "edgectl: pull: %s already exists: remove it or choose another name "
                        "with -o FILE\n",
                args.file);
        status = ED_CTL_EDOWNLOAD;
        goto out;
    }
    curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    if (!curl_ready || !(curl = curl_easy_init())) {
        fprintf(stderr, "edgectl: pull: cannot initialise libcurl\n");
        status = ED_CTL_EDOWNLOAD;
        goto out;
    }
    status = download(ctl, &args, curl);
    if (status != ED_CTL_OK)
        goto out;

    char actual[SHA256_HEX_LEN + 1];
    uint64_t bytes = 0;
    if (sha256_file(args.part, actual, &bytes) != 0) {
        fprintf(stderr, "edgectl: pull: cannot read %s: %s\n", args.part, strerror(errno));
        status = ED_CTL_EDOWNLOAD;
        goto out;
    }
    if (args.sha256[0] && strcmp(actual, args.sha256) != 0) {
        fprintf(stderr, "edgectl: pull: %s: SHA-256 mismatch: expected %s, got %s; "
                        "the download was deleted\n",
                args.url, args.sha256, actual);
        unlink(args.part);
        status = ED_CTL_EVERIFY;
        goto out;
    }
    /* A GGUF file whose data is all there; whether edged can run it (types,
     * shapes, architecture) is the daemon's to judge when it loads it. */
    char why[256] = "";
    ed_gguf_check_t gguf;
    if (ed_gguf_check_file(args.part, &gguf, why, sizeof why) != 0) {
        fprintf(stderr, "edgectl: pull: %s is not a valid GGUF model (%s); the download was deleted\n",
                args.url, why);
        unlink(args.part);
        status = ED_CTL_EVERIFY;
        goto out;
    }
    uint32_t version = gguf.version;
    uint64_t n_tensors = gguf.n_tensors;
    const char *arch_text = gguf.architecture[0] ? gguf.architecture : "unknown architecture";
    if (install_file(&args) != 0) {
        fprintf(stderr, "edgectl: pull: cannot move %s to %s: %s\n", args.part, args.file,
                strerror(errno));
        status = ED_CTL_EDOWNLOAD;
        goto out;
    }
    if (ctl->json) {
        json_t *result = json_pack("{s:s, s:I, s:s, s:i, s:s, s:I}", "path", args.file, "bytes",
                                   (json_int_t)bytes, "sha256", actual, "gguf_version",
                                   (int)version, "architecture", arch_text, "tensors",
                                   (json_int_t)n_tensors);
        json_dumpf(result, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(result);
    } else {
        char size[32];
        ed_progress_bytes(size, sizeof size, (double)bytes);
        printf("pull: saved %s (%s, GGUF v%u, %s, %" PRIu64 " tensors)\nsha256 %s%s\n", args.file,
               size, version, arch_text, n_tensors, actual,
               args.sha256[0] ? " (verified)" : "");
    }
out:
    if (curl)
        curl_easy_cleanup(curl);
    if (curl_ready)
        curl_global_cleanup();
    free(args.file);
    free(args.part);
    return status;
}
