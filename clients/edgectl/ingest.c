/* ingest.c - edgectl ingest: gathers the files named (folders walked, in
 * name order; sub-folders with --recursive), then POSTs each as a raw body of
 * its Content-Type to /v1/documents with collection, title, source (its path
 * relative to what was named, so that a second run finds it) and force in the
 * query, on one kept-alive connection. Progress on stderr (progress.h); on
 * stdout each file's outcome (added, unchanged, replaced) and a summary;
 * each failed file reported with the daemon's reason. */
#include "ingest.h"

#include "call.h"
#include "progress.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_DEPTH 32 /* folders below a named one, at most (guards against link loops) */
#define BUSY_TRIES 5       /* sends of one file while the store's queue is full */
#define BUSY_WAIT_MAX_S 10 /* the longest Retry-After honoured between them */

typedef struct {
    char *path;       /* malloc'd */
    char *source;     /* malloc'd: the path below the named folder's parent ("notes/a.md"), or a named file's name */
    const char *type; /* its Content-Type */
    uint64_t size;    /* bytes, at the walk */
} file_t;

typedef struct {
    file_t *items;
    size_t n, cap;
    int failed;  /* named paths that could not be taken */
    int skipped; /* files of other kinds inside folders */
} files_t;

/* What a run stored. */
typedef struct {
    int stored, failed;
    int added, unchanged, replaced; /* of the stored */
    uint64_t bytes;
    long chunks, tokens;
} totals_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The Content-Type of a file by its extension, NULL for other kinds. */
static const char *content_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } kinds[] = {
        {".txt", "text/plain"},  {".md", "text/markdown"}, {".markdown", "text/markdown"},
        {".html", "text/html"},  {".htm", "text/html"},
    };
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    if (!dot || (slash && dot < slash))
        return NULL;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcasecmp(dot, kinds[i].ext) == 0)
            return kinds[i].type;
    return NULL;
}

static int add_file(files_t *files, const char *path, const char *source, const char *type, uint64_t size)
{
    if (files->n == files->cap) {
        size_t cap = files->cap ? 2 * files->cap : 32;
        file_t *grown = realloc(files->items, cap * sizeof *grown);
        if (!grown)
            return -1;
        files->items = grown;
        files->cap = cap;
    }
    char *copy = strdup(path), *source_copy = strdup(source);
    if (!copy || !source_copy) {
        free(copy);
        free(source_copy);
        return -1;
    }
    files->items[files->n++] = (file_t){copy, source_copy, type, size};
    return 0;
}

/* Adds `path`: a file of a known kind, or a folder's files. `named`: given
 * on the command line (an unusable one is an error, not a skip). `source`:
 * the source of path ("" for the root folder). -1 only when out of memory. */
static int walk(files_t *files, const char *path, const char *source, bool named, bool recursive, int depth)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "edgectl: ingest: %s: %s\n", path, strerror(errno));
        files->failed++;
        return 0;
    }
    if (S_ISREG(st.st_mode)) {
        const char *type = content_type(path);
        if (type)
            return add_file(files, path, source, type, (uint64_t)st.st_size);
        if (named) {
            fprintf(stderr, "edgectl: ingest: %s: not a .txt, .md, .markdown, .html or .htm file\n", path);
            files->failed++;
        } else {
            files->skipped++;
        }
        return 0;
    }
    if (!S_ISDIR(st.st_mode)) {
        if (named) {
            fprintf(stderr, "edgectl: ingest: %s: not a file or a folder\n", path);
            files->failed++;
        }
        return 0;
    }
    if ((!named && !recursive) || depth > MAX_DEPTH)
        return 0;
    struct dirent **names = NULL;
    int n = scandir(path, &names, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "edgectl: ingest: %s: %s\n", path, strerror(errno));
        files->failed++;
        return 0;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        if (rc == 0 && name[0] != '.') {
            char child[PATH_MAX], child_source[PATH_MAX];
            size_t len = strlen(path);
            bool slash = len > 0 && path[len - 1] == '/';
            if (snprintf(child, sizeof child, "%s%s%s", path, slash ? "" : "/", name) >= (int)sizeof child ||
                snprintf(child_source, sizeof child_source, "%s%s%s", source, *source ? "/" : "", name) >=
                    (int)sizeof child_source) {
                fprintf(stderr, "edgectl: ingest: %s/%s: the path is too long\n", path, name);
                files->failed++;
            } else {
                rc = walk(files, child, child_source, false, recursive, depth + 1);
            }
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

static const file_t *sort_base; /* the files compare_sources orders */

/* Orders file indices by source, then by index (qsort is not stable). */
static int compare_sources(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int c = strcmp(sort_base[i].source, sort_base[j].source);
    return c ? c : (i > j) - (i < j);
}

/* Two files of one run with the same source (folders of the same name named
 * together) would replace each other's document: every one after the first
 * is refused, counted as failed. -1 only when out of memory. */
static int refuse_same_sources(files_t *files)
{
    size_t *order = malloc((files->n ? files->n : 1) * sizeof *order);
    bool *refused = calloc(files->n ? files->n : 1, sizeof *refused);
    if (!order || !refused) {
        free(order);
        free(refused);
        return -1;
    }
    for (size_t i = 0; i < files->n; i++)
        order[i] = i;
    sort_base = files->items;
    qsort(order, files->n, sizeof *order, compare_sources);
    for (size_t k = 1; k < files->n; k++) {
        const file_t *first = &files->items[order[k - 1]], *file = &files->items[order[k]];
        if (strcmp(first->source, file->source) != 0)
            continue;
        fprintf(stderr, "edgectl: ingest: %s: its source \"%s\" is also %s's; not sent (name one of the folders "
                        "in a run, or their parent)\n", file->path, file->source, first->path);
        refused[order[k]] = true;
        order[k] = order[k - 1]; /* the next twin names the first one too */
    }
    size_t kept = 0;
    for (size_t i = 0; i < files->n; i++) {
        if (refused[i]) {
            free(files->items[i].path);
            free(files->items[i].source);
            files->failed++;
        } else {
            files->items[kept++] = files->items[i];
        }
    }
    files->n = kept;
    free(order);
    free(refused);
    return 0;
}

static void files_free(files_t *files)
{
    for (size_t i = 0; i < files->n; i++) {
        free(files->items[i].path);
        free(files->items[i].source);
    }
    free(files->items);
}

/* The whole file, malloc'd; NULL (errno set) when it cannot be read. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *data = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            size_t grown = cap ? 2 * cap : 65536;
            char *p = realloc(data, grown);
            if (!p) {
                free(data);
                fclose(f);
                errno = ENOMEM;
                return NULL;
            }
            data = p;
            cap = grown;
        }
        size_t got = fread(data + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(data);
        errno = EIO;
        return NULL;
    }
    *len = n;
    return data;
}

/* The source of a named path: its last component, as the folder or file
 * is called wherever edgectl runs ("notes" for ~/notes/, ./notes or "."
 * inside it; "" for "/"). Files below a named folder add their path to it,
 * so that two folders' files of the same name stay apart. */
static void named_source(const char *path, char out[PATH_MAX])
{
    char absolute[PATH_MAX];
    const char *p = realpath(path, absolute) ? absolute : path;
    size_t len = strlen(p);
    while (len > 1 && p[len - 1] == '/')
        len--;
    size_t start = len;
    while (start > 0 && p[start - 1] != '/')
        start--;
    snprintf(out, PATH_MAX, "%.*s", (int)(len - start), p + start);
}

/* The request target for one file: collection, title (the file name),
 * source and force. */
static bool target(char *out, size_t cap, const char *collection, const file_t *file, bool force)
{
    const char *path = file->path;
    const char *slash = strrchr(path, '/');
    const char *title = slash ? slash + 1 : path;
    size_t len = (size_t)snprintf(out, cap, "/v1/documents?collection=");
    bool ok = len < cap && ed_ctl_query_escape(out, cap, &len, collection);
    if (ok && len + 8 < cap) {
        memcpy(out + len, "&title=", 8);
        len += 7;
        ok = ed_ctl_query_escape(out, cap, &len, title);
    }
    if (ok && len + 9 < cap) {
        memcpy(out + len, "&source=", 9);
        len += 8;
        ok = ed_ctl_query_escape(out, cap, &len, file->source);
    }
    if (ok && force) {
        ok = len + 12 < cap;
        if (ok) {
            memcpy(out + len, "&force=true", 12);
            len += 11;
        }
    }
    return ok;
}

/* Prints what the daemon did with a stored file and counts it. */
static void report_stored(const file_t *file, const json_t *answer, totals_t *totals, bool print)
{
    const char *outcome = json_string_value(json_object_get(answer, "outcome"));
    long long id = (long long)json_integer_value(json_object_get(answer, "id"));
    long long version = (long long)json_integer_value(json_object_get(answer, "version"));
    if (!outcome)
        outcome = "added";
    if (strcmp(outcome, "unchanged") == 0)
        totals->unchanged++;
    else if (strcmp(outcome, "replaced") == 0)
        totals->replaced++;
    else
        totals->added++;
    if (print)
        printf("%-9s %s (document %lld, version %lld)\n", outcome, file->path, id, version);
}

/* Tells a failed file's reason: the daemon's error message, status and code.
 * Returns whether the store cannot take any document now (it is opening or
 * did not open): the run stops there. */
static bool answer_failed(const char *path, const ed_client_response_t *resp)
{
    json_t *root = resp->body ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
    json_t *error = json_object_get(root, "error");
    const char *message = json_string_value(json_object_get(error, "message"));
    const char *code = json_string_value(json_object_get(error, "code"));
    fprintf(stderr, "edgectl: ingest: %s: %s (HTTP %d%s%s)\n", path, message ? message : "an error without a message",
            resp->status, code ? ", " : "", code ? code : "");
    bool closed = resp->status == 503 && code &&
                  (strcmp(code, "store_opening") == 0 || strcmp(code, "store_unavailable") == 0);
    json_decref(root);
    return closed;
}

/* Whether a refusal asks to come back shortly (a full queue), and after how
 * many seconds (Retry-After, 1..BUSY_WAIT_MAX_S). */
static bool busy(const ed_client_response_t *resp, unsigned *wait_s)
{
    if (resp->status != 429 && resp->status != 503)
        return false;
    json_t *root = resp->body ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
    const char *code = json_string_value(json_object_get(json_object_get(root, "error"), "code"));
    bool is_busy = resp->status == 429 || (code && strcmp(code, "queue_full") == 0);
    json_decref(root);
    const char *retry = ed_client_response_header(resp, "Retry-After");
    unsigned long s = retry ? strtoul(retry, NULL, 10) : 1;
    *wait_s = s < 1 ? 1 : s > BUSY_WAIT_MAX_S ? BUSY_WAIT_MAX_S : (unsigned)s;
    return is_busy;
}

/* Sends one file. ED_CTL_OK (stored, or failed and counted: the run goes
 * on), or the exit status of losing the daemon (the run stops). */
static int ingest_one(const ed_ctl_t *ctl, ed_client_t *client, const char *collection, const file_t *file,
                      bool force, totals_t *totals, bool tty)
{
    size_t len = 0;
    char *data = read_file(file->path, &len);
    char path[3 * PATH_MAX + 512];
    if (!data || !target(path, sizeof path, collection, file, force)) {
        if (tty)
            fputs("\r\033[K", stderr);
        fprintf(stderr, "edgectl: ingest: %s: %s\n", file->path, data ? "the path is too long" : strerror(errno));
        free(data);
        totals->failed++;
        return ED_CTL_OK;
    }
    char type[64];
    snprintf(type, sizeof type, "%s; charset=utf-8", file->type);
    ed_client_header_t header = {"Content-Type", type};
    char err[ED_CLIENT_ERR_LEN];
    ed_client_response_t resp = {0};
    int rc = ed_client_request(client, "POST", path, &header, 1, data, len, &resp, err);
    unsigned wait_s;
    for (int tries = 1; rc == 0 && tries < BUSY_TRIES && busy(&resp, &wait_s); tries++) {
        ed_client_response_free(&resp);
        sleep(wait_s); /* the store's queue is full: another client is ingesting */
        rc = ed_client_request(client, "POST", path, &header, 1, data, len, &resp, err);
    }
    free(data);
    int status = ED_CTL_OK;
    json_t *answer = NULL;
    if (tty)
        fputs("\r\033[K", stderr);
    if (rc != 0) {
        status = ed_ctl_client_failure(ed_client_socket(client), rc, err);
        totals->failed++;
    } else if (resp.status < 200 || resp.status > 299) {
        if (answer_failed(file->path, &resp))
            status = ED_CTL_EANSWER; /* every other file would fail the same way */
        totals->failed++;
    } else if (!(answer = ed_ctl_parse_object("POST", "/v1/documents", &resp))) {
        status = ED_CTL_EPROTOCOL;
        totals->failed++;
    } else {
        if (ctl->json)
            printf("%.*s%s", (int)resp.body_len, resp.body,
                   resp.body_len && resp.body[resp.body_len - 1] == '\n' ? "" : "\n");
        report_stored(file, answer, totals, !ctl->json);
        totals->stored++;
        totals->bytes += len;
        totals->chunks += (long)json_integer_value(json_object_get(answer, "chunks"));
        totals->tokens += (long)json_integer_value(json_object_get(answer, "tokens"));
    }
    json_decref(answer);
    ed_client_response_free(&resp);
    return status;
}

static int parse_args(int argc, char **argv, ed_ctl_t *ctl, const char **collection, bool *recursive, bool *force)
{
    static const struct option options[] = {
        {"collection", required_argument, NULL, 'c'},
        {"recursive", no_argument, NULL, 'r'},
        {"force", no_argument, NULL, 'f'},
        {"json", no_argument, NULL, 'j'},
        {0, 0, 0, 0},
    };
    optind = 0; /* a fresh scan of the command's own arguments */
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:rf", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            *collection = optarg;
            break;
        case 'r':
            *recursive = true;
            break;
        case 'f':
            *force = true;
            break;
        case 'j':
            ctl->json = true;
            break;
        default:
            fprintf(stderr, "edgectl: ingest: unknown or incomplete option '%s' (see 'edgectl ingest --help')\n",
                    argv[optind - 1]);
            return ED_CTL_EUSAGE;
        }
    }
    if (!**collection) {
        fprintf(stderr, "edgectl: ingest: --collection: the name is empty\n");
        return ED_CTL_EUSAGE;
    }
    if (optind >= argc) {
        fprintf(stderr, "edgectl: ingest: no FILE_OR_DIR given (see 'edgectl ingest --help')\n");
        return ED_CTL_EUSAGE;
    }
    return ED_CTL_OK;
}

int ed_ctl_ingest(const ed_ctl_t *ctl, int argc, char **argv)
{
    ed_ctl_t local = *ctl;
    const char *collection = "default";
    bool recursive = false, force = false;
    int status = parse_args(argc, argv, &local, &collection, &recursive, &force);
    if (status != ED_CTL_OK)
        return status;
    files_t files = {0};
    for (int i = optind; i < argc; i++) {
        char source[PATH_MAX];
        named_source(argv[i], source);
        if (walk(&files, argv[i], source, true, recursive, 0) != 0) {
            fprintf(stderr, "edgectl: out of memory\n");
            files_free(&files);
            return ED_CTL_EPROTOCOL;
        }
    }
    if (refuse_same_sources(&files) != 0) {
        fprintf(stderr, "edgectl: out of memory\n");
        files_free(&files);
        return ED_CTL_EPROTOCOL;
    }
    if (files.n == 0) {
        fprintf(stderr, "edgectl: ingest: no .txt, .md, .markdown, .html or .htm files found%s\n",
                recursive ? "" : " (sub-folders need --recursive)");
        files_free(&files);
        return files.failed ? ED_CTL_EANSWER : ED_CTL_EUSAGE;
    }
    ed_client_t *client = NULL;
    status = ed_ctl_connect(&local, &client);
    if (status != ED_CTL_OK) {
        files_free(&files);
        return status;
    }
    uint64_t total = 0, done = 0;
    for (size_t i = 0; i < files.n; i++)
        total += files.items[i].size;
    totals_t totals = {.failed = files.failed};
    char label[64];
    ed_progress_t progress;
    snprintf(label, sizeof label, "ingest 0/%zu files", files.n);
    ed_progress_init(&progress, label, 0);
    double start = now_s();
    size_t sent = 0;
    for (size_t i = 0; i < files.n && status == ED_CTL_OK; i++, sent++) {
        status = ingest_one(&local, client, collection, &files.items[i], force, &totals, progress.tty);
        done += files.items[i].size;
        snprintf(label, sizeof label, "ingest %zu/%zu files", i + 1, files.n);
        ed_progress_update(&progress, done, total ? total : 1);
    }
    ed_progress_finish(&progress);
    ed_client_close(client);
    char bytes[32];
    ed_progress_bytes(bytes, sizeof bytes, (double)totals.bytes);
    if (!local.json) {
        size_t named = files.n + (size_t)files.failed;
        printf("ingested %d of %zu file%s (%s, %ld chunks, %ld tokens) into '%s' in %.1f s", totals.stored, named,
               named == 1 ? "" : "s", bytes, totals.chunks, totals.tokens, collection, now_s() - start);
        printf(": %d added, %d unchanged, %d replaced", totals.added, totals.unchanged, totals.replaced);
        if (totals.failed)
            printf("; %d failed", totals.failed);
        putchar('\n');
    }
    if (files.skipped)
        fprintf(stderr, "edgectl: ingest: skipped %d file%s of other kinds in the folders\n", files.skipped,
                files.skipped == 1 ? "" : "s");
    if (sent < files.n)
        fprintf(stderr, "edgectl: ingest: stopped; %zu file%s not sent (run it again once 'edgectl health' "
                        "says ok)\n", files.n - sent, files.n - sent == 1 ? " was" : "s were");
    files_free(&files);
    if (status != ED_CTL_OK)
        return status;
    return totals.failed ? ED_CTL_EANSWER : ED_CTL_OK;
}
