/* tests/unit/rag/recall.c - retrieval quality on the project's notes corpus
 * (tests/data/notes: 200+ personal notes, 50 questions naming the note that
 * answers each): dense recall@5 with the hash embedder and the flat index,
 * and hybrid recall@5 (dense + the store's BM25, fused by reciprocal rank),
 * which must reach 0.9. Notes are chunked and embedded as ingest will do:
 * the title, a line break, then the chunk. Both numbers are printed. */
#include "rag/chunker.h"
#include "rag/embedder.h"
#include "rag/fusion.h"
#include "rag/index.h"
#include "store/store.h"

#include "../../test.h"

#include <jansson.h>
#include <stdint.h>

enum { MAX_NOTES = 512, MAX_QUESTIONS = 128, CANDIDATES = 20, TOP = 5 };

typedef struct {
    char *title, *text;
} note_t;

static note_t notes[MAX_NOTES];
static int n_notes;
static note_t questions[MAX_QUESTIONS]; /* text: the question; title: the answering note's */
static int n_questions;
static char err[ED_ERR_LEN];

static int load_jsonl(const char *path, const char *text_key, note_t *out, int cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[8192];
    int n = 0;
    while (n < cap && fgets(line, sizeof line, f)) {
        json_error_t jerr;
        json_t *o = json_loads(line, 0, &jerr);
        const char *title = json_string_value(json_object_get(o, "title"));
        const char *text = json_string_value(json_object_get(o, text_key));
        if (title && text) {
            out[n].title = strdup(title);
            out[n].text = strdup(text);
            n++;
        }
        json_decref(o);
    }
    fclose(f);
    return n;
}

static int load_corpus(void)
{
    n_notes = load_jsonl("tests/data/notes/notes.jsonl", "text", notes, MAX_NOTES);
    n_questions = load_jsonl("tests/data/notes/questions.jsonl", "question", questions, MAX_QUESTIONS);
    return n_notes >= 200 && n_questions >= 50 ? 0 : -1;
}

static int note_by_title(const char *title)
{
    for (int i = 0; i < n_notes; i++)
        if (strcmp(notes[i].title, title) == 0)
            return i;
    return -1;
}

/* Chunks of one note (256 tokens, 32 overlap: the daemon's defaults). */
static int chunk_note(const note_t *note, ed_chunk_span_t **chunks, int *n)
{
    ed_chunker_config_t config = {.chunk_tokens = 256, .chunk_overlap = 32};
    return ed_chunker_split(&config, note->text, strlen(note->text), NULL, 0, chunks, n, err);
}

static void embed_chunk(ed_embedder_t *e, const note_t *note, const ed_chunk_span_t *c, float *out)
{
    size_t title_len = strlen(note->title);
    char *input = malloc(title_len + 1 + c->len);
    memcpy(input, note->title, title_len);
    input[title_len] = '\n';
    memcpy(input + title_len + 1, note->text + c->offset, c->len);
    ED_CHECK(ed_embedder_embed(e, input, title_len + 1 + c->len, out) == 0);
    free(input);
}

/* Whether the note `want` (by doc id) is among the first TOP distinct docs of ranked chunk ids. */
static bool in_top(const int64_t *chunk_ids, int n, int64_t want_doc)
{
    int64_t seen[TOP];
    int n_seen = 0;
    for (int i = 0; i < n && n_seen < TOP; i++) {
        int64_t doc = chunk_ids[i] / 65536;
        bool dup = false;
        for (int k = 0; k < n_seen; k++)
            dup |= seen[k] == doc;
        if (dup)
            continue;
        if (doc == want_doc)
            return true;
        seen[n_seen++] = doc;
    }
    return false;
}

ED_TEST(dense_recall_at_5)
{
    ED_REQUIRE(load_corpus() == 0);
    ed_embedder_t *e;
    ed_index_t *index;
    ED_REQUIRE(ed_embedder_hash_init(&e, err) == 0);
    ED_REQUIRE(ed_index_init(&index, e->dim, 50000, err) == 0);
    float *v = malloc((size_t)e->dim * sizeof *v);
    for (int i = 0; i < n_notes; i++) {
        ed_chunk_span_t *chunks;
        int n;
        ED_REQUIRE(chunk_note(&notes[i], &chunks, &n) == 0 && n >= 1);
        for (int c = 0; c < n; c++) {
            int64_t id = ed_chunk_id(i + 1, c); /* doc ids from 1, as the store gives them */
            embed_chunk(e, &notes[i], &chunks[c], v);
            ED_REQUIRE(ed_index_add(index, &id, v, 1, err) == 0);
        }
        free(chunks);
    }
    int found = 0;
    for (int q = 0; q < n_questions; q++) {
        int want = note_by_title(questions[q].title);
        ED_REQUIRE(want >= 0);
        ED_REQUIRE(ed_embedder_embed(e, questions[q].text, strlen(questions[q].text), v) == 0);
        ed_index_hit_t hits[CANDIDATES];
        int n_hits;
        ED_REQUIRE(ed_index_search(index, v, CANDIDATES, hits, &n_hits, err) == 0);
        int64_t ids[CANDIDATES];
        for (int k = 0; k < n_hits; k++)
            ids[k] = hits[k].id;
        if (in_top(ids, n_hits, want + 1))
            found++;
        else
            printf("# dense miss: \"%s\" (want \"%s\", got \"%s\")\n", questions[q].text, questions[q].title,
                   n_hits ? notes[hits[0].id / 65536 - 1].title : "-");
    }
    double recall = (double)found / n_questions;
    printf("# dense recall@5 (hash-v1-384, %d notes, %d questions): %.2f\n", n_notes, n_questions, recall);
    ED_CHECK(recall >= 0.8); /* a floor against regressions of the embedder */
    free(v);
    ed_index_free(index);
    ed_embedder_free(e);
}

static int remove_tree(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

ED_TEST(hybrid_recall_at_5)
{
    ED_REQUIRE(load_corpus() == 0);
    char dir[] = "/tmp/edged-recall-XXXXXX";
    ED_REQUIRE(mkdtemp(dir) != NULL);
    ed_store_t *store = NULL;
    ed_embedder_t *e = NULL;
    ed_index_t *index = NULL;
    ED_REQUIRE(ed_store_open(&store, dir, NULL, err) == 0);
    ED_REQUIRE(ed_embedder_hash_init(&e, err) == 0);
    ED_REQUIRE(ed_index_init(&index, e->dim, 50000, err) == 0);
    ed_collection_t collection;
    ED_REQUIRE(ed_store_collection_create(store, "notes", 1000, e->name, e->dim, &collection, err) == 0);

    ed_document_in_t *docs = calloc((size_t)n_notes, sizeof *docs);
    ed_chunk_in_t **chunk_ins = calloc((size_t)n_notes, sizeof *chunk_ins);
    float **vectors = calloc((size_t)n_notes, sizeof *vectors);
    for (int i = 0; i < n_notes; i++) {
        ed_chunk_span_t *chunks;
        int n;
        ED_REQUIRE(chunk_note(&notes[i], &chunks, &n) == 0 && n >= 1);
        chunk_ins[i] = calloc((size_t)n, sizeof **chunk_ins);
        vectors[i] = malloc((size_t)n * (size_t)e->dim * sizeof **vectors);
        int tokens = 0;
        for (int c = 0; c < n; c++) {
            embed_chunk(e, &notes[i], &chunks[c], vectors[i] + (size_t)c * (size_t)e->dim);
            chunk_ins[i][c] = (ed_chunk_in_t){.offset = chunks[c].offset, .len = chunks[c].len,
                                              .n_tokens = chunks[c].n_tokens,
                                              .vector = vectors[i] + (size_t)c * (size_t)e->dim};
            tokens += chunks[c].n_tokens;
        }
        docs[i] = (ed_document_in_t){.collection_id = collection.id, .title = notes[i].title, .source = "",
                                     .text = notes[i].text, .text_len = strlen(notes[i].text),
                                     .chunks = chunk_ins[i], .n_chunks = n, .n_tokens = tokens};
        free(chunks);
    }
    int64_t *doc_ids = calloc((size_t)n_notes, sizeof *doc_ids);
    ED_REQUIRE(ed_store_documents_add(store, docs, n_notes, doc_ids, err) == 0);
    for (int i = 0; i < n_notes; i++)
        for (int c = 0; c < docs[i].n_chunks; c++) {
            int64_t id = ed_chunk_id(doc_ids[i], c);
            ED_REQUIRE(ed_index_add(index, &id, chunk_ins[i][c].vector, 1, err) == 0);
        }

    int found = 0, found_lexical = 0;
    float *v = malloc((size_t)e->dim * sizeof *v);
    for (int q = 0; q < n_questions; q++) {
        int want = note_by_title(questions[q].title);
        ED_REQUIRE(want >= 0);
        ED_REQUIRE(ed_embedder_embed(e, questions[q].text, strlen(questions[q].text), v) == 0);
        ed_index_hit_t dense[CANDIDATES];
        int n_dense;
        ED_REQUIRE(ed_index_search(index, v, CANDIDATES, dense, &n_dense, err) == 0);
        ed_lexical_hit_t lexical[CANDIDATES];
        int n_lexical;
        if (ed_store_lexical_search(store, questions[q].text, &collection.id, 1, CANDIDATES, lexical, &n_lexical,
                                    err) != 0) {
            ED__FAIL("lexical search: %s", err);
            break;
        }
        int64_t dense_ids[CANDIDATES], lexical_ids[CANDIDATES], fused_ids[2 * CANDIDATES];
        for (int k = 0; k < n_dense; k++)
            dense_ids[k] = dense[k].id;
        for (int k = 0; k < n_lexical; k++)
            lexical_ids[k] = lexical[k].chunk_id;
        ed_fusion_list_t lists[2] = {{dense_ids, n_dense, 1.0}, {lexical_ids, n_lexical, 1.0}};
        ed_fusion_hit_t fused[2 * CANDIDATES];
        int n_fused;
        ED_REQUIRE(ed_fusion_rrf(lists, 2, ED_FUSION_RRF_K, fused, 2 * CANDIDATES, &n_fused) == 0);
        for (int k = 0; k < n_fused; k++)
            fused_ids[k] = fused[k].id;
        found_lexical += in_top(lexical_ids, n_lexical, doc_ids[want]);
        if (in_top(fused_ids, n_fused, doc_ids[want]))
            found++;
        else
            printf("# hybrid miss: \"%s\" (want \"%s\")\n", questions[q].text, questions[q].title);
    }
    double recall = (double)found / n_questions;
    printf("# lexical recall@5 (BM25): %.2f\n", (double)found_lexical / n_questions);
    printf("# hybrid recall@5 (hash-v1-384 + BM25, RRF k=60, %d notes, %d questions): %.2f\n", n_notes,
           n_questions, recall);
    ED_CHECK(recall >= 0.9);

    free(v);
    for (int i = 0; i < n_notes; i++) {
        free(chunk_ins[i]);
        free(vectors[i]);
    }
    free(chunk_ins);
    free(vectors);
    free(docs);
    free(doc_ids);
    ed_index_free(index);
    ed_embedder_free(e);
    ed_store_close(store);
    ED_CHECK(remove_tree(dir) == 0);
}

ED_TEST_MAIN(dense_recall_at_5, hybrid_recall_at_5)
