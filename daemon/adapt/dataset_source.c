/* dataset_source.c - see dataset_source.h: documents and examples read from
 * a store (unsealed), a folder or a JSONL file (jansson) into memory that
 * the source tracks allocation by allocation, so that freeing it wipes every
 * copy of the text it made. Copies that jansson and the store make while
 * reading are theirs: the store's unsealed strings are wiped here before
 * they are freed; jansson's are freed by jansson unwiped. */
#include "adapt/dataset_source.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* -------------------------------------------------------------- memory ---- */

struct ed__dataset_mem {
    void **ptr;    /* (n) every allocation of the source */
    size_t *bytes; /* (n) their sizes, wiped on free */
    size_t n, cap;
};

static void *mem_alloc(ed_dataset_source_t *s, size_t bytes)
{
    ed__dataset_mem_t *m = s->mem;
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 64;
        void **ptr = realloc(m->ptr, cap * sizeof *ptr);
        if (!ptr)
            return NULL;
        m->ptr = ptr;
        size_t *sizes = realloc(m->bytes, cap * sizeof *sizes);
        if (!sizes)
            return NULL;
        m->bytes = sizes;
        m->cap = cap;
    }
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p)
        return NULL;
    m->ptr[m->n] = p;
    m->bytes[m->n++] = bytes;
    return p;
}

/* A NUL-terminated copy of text[0, len) owned by the source. */
static char *mem_strndup(ed_dataset_source_t *s, const char *text, size_t len)
{
    char *p = mem_alloc(s, len + 1);
    if (p && len)
        memcpy(p, text, len);
    return p;
}

void ed_dataset_source_free(ed_dataset_source_t *src)
{
    if (!src)
        return;
    if (src->mem) {
        for (size_t i = 0; i < src->mem->n; i++) {
            explicit_bzero(src->mem->ptr[i], src->mem->bytes[i]);
            free(src->mem->ptr[i]);
        }
        free(src->mem->ptr);
        free(src->mem->bytes);
        free(src->mem);
    }
    free(src->docs);
    free(src->examples);
    free(src->doc_names);
    free(src);
}

static int source_new(ed_dataset_source_t **out)
{
    ed_dataset_source_t *s = calloc(1, sizeof *s);
    if (s && !(s->mem = calloc(1, sizeof *s->mem))) {
        free(s);
        s = NULL;
    }
    *out = s;
    return s ? 0 : ED_ENOMEM;
}

/* Room for one more document (its name too) or example. */
static int grow(void **array, size_t elem, int n, int *cap)
{
    if (n < *cap)
        return 0;
    int next = *cap ? 2 * *cap : 16;
    void *grown = realloc(*array, (size_t)next * elem); /* structs of pointers: no text to wipe */
    if (!grown)
        return ED_ENOMEM;
    *array = grown;
    *cap = next;
    return 0;
}

typedef struct {
    ed_dataset_source_t *s;
    int doc_cap, name_cap, example_cap;
} builder_t;

/* Adds a document whose strings the source already owns. */
static int add_doc(builder_t *b, const ed_dataset_doc_t *doc, const char *name)
{
    ed_dataset_source_t *s = b->s;
    if (grow((void **)&s->docs, sizeof *s->docs, s->n_docs, &b->doc_cap) < 0 ||
        grow((void **)&s->doc_names, sizeof *s->doc_names, s->n_docs, &b->name_cap) < 0)
        return ED_ENOMEM;
    s->doc_names[s->n_docs] = name;
    s->docs[s->n_docs++] = *doc;
    return 0;
}

/* ---------------------------------------------------------------- store ---- */

/* The document `id` with its text and chunks, copied into the source; the
 * store's unsealed copies are wiped. */
static int store_doc(builder_t *b, ed_store_t *store, const char *collection, int64_t id, char err[ED_ERR_LEN])
{
    ed_dataset_source_t *s = b->s;
    ed_document_t d = {0};
    int rc = ed_store_document_get(store, id, true, &d, err);
    if (rc < 0)
        return rc;
    ed_dataset_doc_t doc = {.id = id, .text_len = d.text_len, .n_chunks = d.n_chunks};
    doc.title = mem_strndup(s, d.title ? d.title : "", d.title ? strlen(d.title) : 0);
    doc.text = mem_strndup(s, d.text ? d.text : "", d.text ? d.text_len : 0);
    ed_dataset_chunk_t *chunks = d.n_chunks > 0 ? mem_alloc(s, (size_t)d.n_chunks * sizeof *chunks) : NULL;
    char name[ED_STORE_NAME_MAX + 32];
    snprintf(name, sizeof name, "%s/%lld", collection, (long long)id);
    const char *doc_name = mem_strndup(s, name, strlen(name));
    if (!doc.title || !doc.text || !doc_name || (d.n_chunks > 0 && !chunks))
        rc = ED_ENOMEM;
    for (int c = 0; rc == 0 && c < d.n_chunks; c++) {
        ed_chunk_t k = {0};
        rc = ed_store_chunk_get(store, ed_chunk_id(id, c), &k, err);
        if (rc < 0)
            break;
        chunks[c] = (ed_dataset_chunk_t){k.offset, k.len, k.context_offset, k.context_len};
        if (k.text)
            explicit_bzero(k.text, strlen(k.text));
        if (k.title)
            explicit_bzero(k.title, strlen(k.title));
        ed_chunk_free(&k);
        if (k.offset > d.text_len || k.len > d.text_len - k.offset || k.context_offset > d.text_len ||
            k.context_len > d.text_len - k.context_offset)
            rc = ed_errf(err, ED_ECORRUPT, "%s: chunk %d lies outside the text", doc_name, c);
    }
    if (d.text)
        explicit_bzero(d.text, d.text_len);
    if (d.title)
        explicit_bzero(d.title, strlen(d.title));
    ed_document_free(&d);
    if (rc < 0)
        return rc;
    doc.chunks = chunks;
    return add_doc(b, &doc, doc_name);
}

int ed_dataset_source_store(ed_dataset_source_t **out, ed_store_t *store, const char *const *collections, int n,
                            char err[ED_ERR_LEN])
{
    *out = NULL;
    ed_dataset_source_t *s;
    int rc = source_new(&s);
    if (rc < 0)
        return ed_errf(err, rc, "out of memory");
    builder_t b = {.s = s};
    int64_t *seen = calloc((size_t)(n > 0 ? n : 1), sizeof *seen);
    if (!seen)
        rc = ed_errf(err, ED_ENOMEM, "out of memory");
    for (int i = 0; rc == 0 && i < n; i++) {
        ed_collection_t c;
        rc = ed_store_collection_get(store, collections[i], &c, err);
        if (rc == ED_ENOENT) {
            rc = ed_errf(err, ED_ENOENT, "collections[%d]: no collection '%s'", i, collections[i]);
            break;
        }
        if (rc < 0)
            break;
        bool again = false;
        for (int k = 0; k < i; k++)
            again = again || seen[k] == c.id;
        seen[i] = c.id;
        if (again)
            continue;
        int64_t after = 0;
        for (;;) {
            ed_document_t page[64];
            int got = 0;
            rc = ed_store_documents_list(store, c.id, after, 64, page, &got, err);
            if (rc < 0)
                break;
            for (int k = 0; k < got; k++) {
                if (rc == 0 && s->n_docs >= ED_DATASET_RECORDS_MAX)
                    rc = ed_errf(err, ED_EINVAL, "collections: more than %d documents", ED_DATASET_RECORDS_MAX);
                if (rc == 0)
                    rc = store_doc(&b, store, c.name, page[k].id, err);
                after = page[k].id;
                if (page[k].title)
                    explicit_bzero(page[k].title, strlen(page[k].title));
                ed_document_free(&page[k]);
            }
            if (rc < 0 || got < 64)
                break;
        }
    }
    free(seen);
    if (rc == 0 && s->n_docs == 0)
        rc = ed_errf(err, ED_EINVAL, "collections: no documents to train on");
    if (rc < 0) {
        ed_dataset_source_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* ---------------------------------------------------------------- files ---- */

/* The whole of `path` in a buffer the source owns (NUL-terminated). */
static int read_file(ed_dataset_source_t *s, const char *path, char **out, size_t *len, char err[ED_ERR_LEN])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ed_errf(err, ed_err_from_errno(errno), "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ed_errf(err, ED_EINVAL, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > ED_DATASET_FILE_MAX) {
        close(fd);
        return ed_errf(err, ED_EINVAL, "%s: %lld bytes, at most %zu", path, (long long)st.st_size,
                       ED_DATASET_FILE_MAX);
    }
    size_t size = (size_t)st.st_size, n = 0;
    char *buf = mem_alloc(s, size + 1);
    if (!buf) {
        close(fd);
        return ed_errf(err, ED_ENOMEM, "%s: out of memory", path);
    }
    while (n < size) {
        ssize_t r = read(fd, buf + n, size - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            return ed_errf(err, ed_err_from_errno(e), "%s: %s", path, strerror(e));
        }
        if (r == 0)
            break; /* the file shrank: what was there */
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

static bool has_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name), k = strlen(suffix);
    return n > k && strcmp(name + n - k, suffix) == 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A .md file's title: its first "# " to "###### " heading; the heading
 * line leaves the text when no other text comes before it. */
static void markdown_title(const char *text, size_t len, const char **title, size_t *title_len, size_t *body)
{
    *title = NULL;
    *title_len = 0;
    *body = 0;
    bool blank_before = true;
    for (size_t line = 0; line < len;) {
        size_t end = line;
        while (end < len && text[end] != '\n')
            end++;
        size_t h = line;
        while (h < end && h - line < 7 && text[h] == '#')
            h++;
        if (h > line && h - line <= 6 && h < end && (text[h] == ' ' || text[h] == '\t')) {
            size_t a = h, z = end;
            while (a < z && (text[a] == ' ' || text[a] == '\t'))
                a++;
            while (z > a && (text[z - 1] == ' ' || text[z - 1] == '\t' || text[z - 1] == '\r' || text[z - 1] == '#'))
                z--;
            if (z > a) {
                *title = text + a;
                *title_len = z - a;
                if (blank_before)
                    *body = end < len ? end + 1 : end;
                return;
            }
        }
        for (size_t k = line; k < end && blank_before; k++)
            blank_before = text[k] == ' ' || text[k] == '\t' || text[k] == '\r';
        line = end < len ? end + 1 : end;
    }
}

int ed_dataset_source_folder(ed_dataset_source_t **out, const char *dir, char err[ED_ERR_LEN])
{
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d)
        return ed_errf(err, ed_err_from_errno(errno), "%s: %s", dir, strerror(errno));
    char **names = NULL;
    int n = 0, cap = 0, rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || !(has_suffix(e->d_name, ".txt") || has_suffix(e->d_name, ".md")))
            continue;
        if (n >= ED_DATASET_RECORDS_MAX) {
            rc = ed_errf(err, ED_EINVAL, "%s: more than %d files", dir, ED_DATASET_RECORDS_MAX);
            break;
        }
        if (grow((void **)&names, sizeof *names, n, &cap) < 0 || !(names[n] = strdup(e->d_name))) {
            rc = ed_errf(err, ED_ENOMEM, "out of memory");
            break;
        }
        n++;
    }
    closedir(d);
    ed_dataset_source_t *s = NULL;
    if (rc == 0 && source_new(&s) < 0)
        rc = ed_errf(err, ED_ENOMEM, "out of memory");
    builder_t b = {.s = s};
    if (rc == 0 && n > 0)
        qsort(names, (size_t)n, sizeof *names, cmp_names);
    for (int i = 0; rc == 0 && i < n; i++) {
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= (int)sizeof path) {
            rc = ed_errf(err, ED_EINVAL, "%s/%s: path too long", dir, names[i]);
            break;
        }
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        char *text;
        size_t len;
        rc = read_file(s, path, &text, &len, err);
        if (rc < 0)
            break;
        const char *title = NULL;
        size_t title_len = 0, body = 0;
        if (has_suffix(names[i], ".md"))
            markdown_title(text, len, &title, &title_len, &body);
        if (!title) {
            title = names[i];
            title_len = (size_t)(strrchr(names[i], '.') - names[i]);
        }
        ed_dataset_doc_t doc = {.id = s->n_docs, .text = text + body, .text_len = len - body};
        doc.title = mem_strndup(s, title, title_len);
        const char *name = mem_strndup(s, names[i], strlen(names[i]));
        rc = doc.title && name ? add_doc(&b, &doc, name) : ED_ENOMEM;
        if (rc < 0)
            ed_errf(err, rc, "out of memory");
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (rc == 0 && s->n_docs == 0)
        rc = ed_errf(err, ED_EINVAL, "%s: no .txt or .md files", dir);
    if (rc < 0) {
        ed_dataset_source_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* ---------------------------------------------------------------- jsonl ---- */

/* A JSON string's copy owned by the source, or NULL with *bad when v is not
 * a string. */
static const char *text_copy(ed_dataset_source_t *s, const json_t *v, size_t *len, bool *bad)
{
    if (!json_is_string(v)) {
        *bad = true;
        return NULL;
    }
    *len = json_string_length(v);
    return mem_strndup(s, json_string_value(v), *len);
}

#define LINE_ERR(code, ...) (ed_errf(err, code, "%s:%d: ", name, line), line_err(err, __VA_ARGS__), code)

/* Appends to err (after its "NAME:LINE: " prefix). */
__attribute__((format(printf, 2, 3))) static void line_err(char err[ED_ERR_LEN], const char *fmt, ...)
{
    size_t used = strlen(err);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + used, ED_ERR_LEN - used, fmt, ap);
    va_end(ap);
}

static int parse_example(builder_t *b, const json_t *messages, const char *name, int line, char err[ED_ERR_LEN])
{
    ed_dataset_source_t *s = b->s;
    if (!json_is_array(messages))
        return LINE_ERR(ED_EINVAL, "messages: expected an array");
    size_t n = json_array_size(messages);
    if (n == 0)
        return LINE_ERR(ED_EINVAL, "messages: empty");
    if (n > ED_DATASET_MESSAGES_MAX)
        return LINE_ERR(ED_EINVAL, "messages: %zu of them, at most %d", n, ED_DATASET_MESSAGES_MAX);
    ed_chat_message_t *m = mem_alloc(s, n * sizeof *m);
    if (!m)
        return ED_ENOMEM;
    bool assistant = false;
    for (size_t i = 0; i < n; i++) {
        const json_t *msg = json_array_get(messages, i);
        if (!json_is_object(msg))
            return LINE_ERR(ED_EINVAL, "messages[%zu]: expected an object", i);
        const json_t *role = json_object_get(msg, "role"), *content = json_object_get(msg, "content");
        if (!json_is_string(role))
            return LINE_ERR(ED_EINVAL, "messages[%zu].role: expected a string", i);
        if (ed_chat_role_from_name(json_string_value(role), json_string_length(role), &m[i].role) != 0)
            return LINE_ERR(ED_EINVAL, "messages[%zu].role: '%.40s' is not a role (system, user, assistant)", i,
                            json_string_value(role));
        bool bad = false;
        m[i].content = text_copy(s, content, &m[i].len, &bad);
        if (bad)
            return LINE_ERR(ED_EINVAL, "messages[%zu].content: expected a string", i);
        if (!m[i].content)
            return ED_ENOMEM;
        assistant = assistant || m[i].role == ED_CHAT_ASSISTANT;
    }
    if (!assistant)
        return LINE_ERR(ED_EINVAL, "messages: no assistant turn");
    if (grow((void **)&s->examples, sizeof *s->examples, s->n_examples, &b->example_cap) < 0)
        return ED_ENOMEM;
    s->examples[s->n_examples++] = (ed_dataset_example_t){m, n};
    return 0;
}

static int parse_document(builder_t *b, const json_t *obj, const char *name, int line, char err[ED_ERR_LEN])
{
    ed_dataset_source_t *s = b->s;
    const json_t *title = json_object_get(obj, "title"), *text = json_object_get(obj, "text"),
                 *id = json_object_get(obj, "id");
    ed_dataset_doc_t doc = {.id = s->n_docs, .title = ""};
    bool bad = false;
    size_t len = 0;
    if (title && !json_is_null(title) && !(doc.title = text_copy(s, title, &len, &bad)))
        return bad ? LINE_ERR(ED_EINVAL, "title: expected a string") : ED_ENOMEM;
    if (!(doc.text = text_copy(s, text, &doc.text_len, &bad)))
        return bad ? LINE_ERR(ED_EINVAL, "text: expected a string") : ED_ENOMEM;
    char label[64];
    const char *doc_name;
    if (json_is_string(id)) {
        doc_name = mem_strndup(s, json_string_value(id), json_string_length(id));
    } else if (json_is_integer(id)) {
        snprintf(label, sizeof label, "%lld", (long long)json_integer_value(id));
        doc_name = mem_strndup(s, label, strlen(label));
    } else if (id && !json_is_null(id)) {
        return LINE_ERR(ED_EINVAL, "id: expected a string or an integer");
    } else {
        char where[PATH_MAX + 32];
        snprintf(where, sizeof where, "%s:%d", name, line);
        doc_name = mem_strndup(s, where, strlen(where));
    }
    if (!doc_name)
        return ED_ENOMEM;
    return add_doc(b, &doc, doc_name);
}

static int parse_line(builder_t *b, const char *text, size_t len, const char *name, int line, char err[ED_ERR_LEN])
{
    json_error_t jerr;
    json_t *obj = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!obj)
        return LINE_ERR(ED_EINVAL, "not JSON: %s (column %d)", jerr.text, jerr.column);
    int rc;
    const json_t *messages = json_object_get(obj, "messages");
    if (!json_is_object(obj))
        rc = LINE_ERR(ED_EINVAL, "expected an object");
    else if (messages && json_object_get(obj, "text"))
        rc = LINE_ERR(ED_EINVAL, "both \"messages\" and \"text\": one record is an example or a document");
    else if (messages)
        rc = parse_example(b, messages, name, line, err);
    else if (json_object_get(obj, "text"))
        rc = parse_document(b, obj, name, line, err);
    else
        rc = LINE_ERR(ED_EINVAL, "expected \"messages\" (an example) or \"text\" (a document)");
    json_decref(obj);
    if (rc == ED_ENOMEM)
        ed_errf(err, rc, "%s:%d: out of memory", name, line);
    return rc;
}

int ed_dataset_source_jsonl_parse(ed_dataset_source_t **out, const char *name, const char *data, size_t len,
                                  char err[ED_ERR_LEN])
{
    *out = NULL;
    ed_dataset_source_t *s;
    if (source_new(&s) < 0)
        return ed_errf(err, ED_ENOMEM, "out of memory");
    builder_t b = {.s = s};
    int rc = 0, line = 0;
    for (size_t at = 0; rc == 0 && at < len;) {
        const char *nl = memchr(data + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - data) : len;
        line++;
        size_t a = at, z = end;
        while (a < z && (data[a] == ' ' || data[a] == '\t' || data[a] == '\r'))
            a++;
        at = nl ? end + 1 : len;
        if (a == z)
            continue;
        if (z - a > ED_DATASET_LINE_MAX)
            rc = LINE_ERR(ED_EINVAL, "%zu bytes, a line holds at most %zu", z - a, ED_DATASET_LINE_MAX);
        else if (s->n_docs + s->n_examples >= ED_DATASET_RECORDS_MAX)
            rc = LINE_ERR(ED_EINVAL, "more than %d records", ED_DATASET_RECORDS_MAX);
        else
            rc = parse_line(&b, data + a, z - a, name, line, err);
    }
    if (rc == 0 && s->n_docs + s->n_examples == 0)
        rc = ed_errf(err, ED_EINVAL, "%s: no documents or examples", name);
    if (rc < 0) {
        ed_dataset_source_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int ed_dataset_source_jsonl(ed_dataset_source_t **out, const char *path, char err[ED_ERR_LEN])
{
    *out = NULL;
    ed_dataset_source_t *holder;
    if (source_new(&holder) < 0)
        return ed_errf(err, ED_ENOMEM, "out of memory");
    char *data;
    size_t len;
    int rc = read_file(holder, path, &data, &len, err);
    if (rc == 0)
        rc = ed_dataset_source_jsonl_parse(out, path, data, len, err);
    ed_dataset_source_free(holder); /* wipes the file's bytes */
    return rc;
}
