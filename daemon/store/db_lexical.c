/* db_lexical.c - the lexical index of edged.db: an FTS5 table in the attached
 * :memory: database, filled by store.c from the unsealed chunks at open,
 * and BM25 search over it. Part of the SQLite wrapper (db.c). */
#include "store/db_internal.h"

#include "store/lexical.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ed_db_lexical_add(ed_db_t *db, int64_t chunk_id, int64_t collection_id, const char *title, const char *text,
                      size_t len, char err[ED_ERR_LEN])
{
    if (!title)
        title = "";
    size_t title_len = strlen(title), title_used = 0, text_used = 0;
    char *title_words = malloc(title_len + 2), *text_words = malloc(len + 2);
    if (!title_words || !text_words) {
        free(title_words);
        free(text_words);
        snprintf(err, ED_ERR_LEN, "out of memory");
        return ED_ENOMEM;
    }
    ed_lexical_words(title, title_len, false, title_words, title_len + 2, &title_used, INT_MAX);
    ed_lexical_words(len ? text : "", len, false, text_words, len + 2, &text_used, INT_MAX);
    sqlite3_stmt *s = ed__db_stmt(db, STMT_LEXICAL_INSERT);
    sqlite3_bind_int64(s, 1, chunk_id);
    sqlite3_bind_text64(s, 2, title_words, title_used, SQLITE_STATIC, SQLITE_UTF8);
    sqlite3_bind_text64(s, 3, text_words, text_used, SQLITE_STATIC, SQLITE_UTF8);
    sqlite3_bind_int64(s, 4, collection_id);
    int rc = ed__db_step_done(db, s, "adding to the lexical index", err);
    free(title_words);
    free(text_words);
    return rc;
}

#define QUERY_TERMS_MAX 32    /* terms of a lexical query used, at most */
#define QUERY_TERM_BYTES 128  /* bytes of a longer term are not a word: skipped */

/* Writes the FTS5 query for plain text: each word (ASCII letters and digits,
 * and any non-ASCII byte) quoted, joined by OR. Returns the number of terms. */
static int match_expression(const char *query, char *out, size_t cap)
{
    size_t used = 0;
    int n_terms = 0;
    const unsigned char *p = (const unsigned char *)query;
    out[0] = '\0';
    while (*p && n_terms < QUERY_TERMS_MAX) {
        while (*p && !(isalnum(*p) || *p >= 0x80))
            p++;
        const unsigned char *start = p;
        while (*p && (isalnum(*p) || *p >= 0x80))
            p++;
        size_t len = (size_t)(p - start);
        if (len == 0 || len > QUERY_TERM_BYTES)
            continue;
        int n = snprintf(out + used, cap - used, "%s\"%.*s\"", n_terms ? " OR " : "", (int)len,
                         (const char *)start);
        if (n < 0 || (size_t)n >= cap - used)
            break;
        used += (size_t)n;
        n_terms++;
    }
    out[used] = '\0';
    return n_terms;
}

int ed_db_lexical_search(ed_db_t *db, const char *query, const int64_t *collection_ids, int n_collections,
                         int top_k, ed_lexical_hit_t *hits, int *n_hits, char err[ED_ERR_LEN])
{
    *n_hits = 0;
    char match[QUERY_TERMS_MAX * (QUERY_TERM_BYTES + 6) + 1];
    if (top_k <= 0 || n_collections <= 0 || match_expression(query, match, sizeof match) == 0)
        return 0;
    size_t cap = (size_t)n_collections * 21 + 3, used = 0;
    char *ids = malloc(cap);
    if (!ids) {
        snprintf(err, ED_ERR_LEN, "out of memory");
        return ED_ENOMEM;
    }
    ids[used++] = '[';
    for (int i = 0; i < n_collections; i++)
        used += (size_t)snprintf(ids + used, cap - used, "%s%lld", i ? "," : "", (long long)collection_ids[i]);
    snprintf(ids + used, cap - used, "]");
    sqlite3_stmt *s = ed__db_stmt(db, STMT_LEXICAL_SEARCH);
    sqlite3_bind_text(s, 1, match, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, ids, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, top_k);
    int rc;
    while (*n_hits < top_k && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        hits[*n_hits].chunk_id = sqlite3_column_int64(s, 0);
        hits[*n_hits].score = sqlite3_column_double(s, 1);
        (*n_hits)++;
    }
    if (*n_hits < top_k && rc != SQLITE_DONE)
        rc = ed__db_error(db, rc, "searching the lexical index", err);
    else
        rc = 0;
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    free(ids);
    return rc;
}

int ed_db_lexical_term_rows(ed_db_t *db, const char *term, int64_t *n_rows, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = ed__db_stmt(db, STMT_LEXICAL_TERM_ROWS);
    sqlite3_bind_text(s, 1, term, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    *n_rows = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : ed__db_error(db, rc, "counting a term's rows", err);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc;
}
