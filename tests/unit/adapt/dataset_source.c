/* Tests daemon/adapt/dataset_source.c: JSONL documents and examples and the
 * errors that name file, line and field; the shared personal notes load as
 * documents and build a dataset on the real model; a folder's .txt and .md
 * files in name order with their titles; a store's collections with their
 * chunks and headings, and its errors; freeing wipes every copy of the text
 * (free is watched: the file includes dataset_source.c). */
#include "adapt/dataset.h"
#include "adapt/dataset_source.h"
#include "model/gguf.h"
#include "model/vocab.h"
#include "tests/test.h"
#include "tests/unit/store/helpers.h"

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

#include "tests/wipe_hook.h"

#define free watched_free
#include "daemon/adapt/dataset_source.c"
#undef free

#define NOTES "../shared/testdata/personal/notes.jsonl"
#define REAL "../shared/testdata/real/edged-tiny-26m-q8_0.gguf"

static ed_dataset_source_t *parse(const char *text)
{
    char err[ED_ERR_LEN] = "";
    ed_dataset_source_t *s = NULL;
    int rc = ed_dataset_source_jsonl_parse(&s, "examples.jsonl", text, strlen(text), err);
    if (rc != 0)
        printf("#   %s\n", err);
    return s;
}

static bool is(const char *text, size_t len, const char *expect)
{
    return len == strlen(expect) && memcmp(text, expect, len) == 0;
}

ED_TEST(jsonl_reads_documents_and_examples)
{
    ed_dataset_source_t *s = parse(
        "{\"id\": \"d7\", \"title\": \"Dentist\", \"text\": \"On 14 May.\"}\n"
        "\n   \n"
        "{\"messages\": [{\"role\": \"user\", \"content\": \"When?\"}, {\"role\": \"assistant\", \"content\": \"May\\u0000.\"}]}\r\n"
        "{\"text\": \"No title here.\", \"extra\": 1}");
    ED_REQUIRE(s);
    ED_REQUIRE(s->n_docs == 2 && s->n_examples == 1);
    ED_CHECK_STR(s->docs[0].title, "Dentist");
    ED_CHECK(is(s->docs[0].text, s->docs[0].text_len, "On 14 May."));
    ED_CHECK_STR(s->doc_names[0], "d7");
    ED_CHECK_INT(s->docs[0].id, 0);
    ED_CHECK(s->docs[0].chunks == NULL);
    ED_CHECK_STR(s->docs[1].title, "");
    ED_CHECK_INT(s->docs[1].id, 1);
    ED_CHECK_STR(s->doc_names[1], "examples.jsonl:5");
    const ed_dataset_example_t *e = &s->examples[0];
    ED_REQUIRE(e->n_messages == 2);
    ED_CHECK(e->messages[0].role == ED_CHAT_USER && is(e->messages[0].content, e->messages[0].len, "When?"));
    ED_CHECK(e->messages[1].role == ED_CHAT_ASSISTANT && e->messages[1].len == 5 &&
             memcmp(e->messages[1].content, "May\0.", 5) == 0);
    ed_dataset_source_free(s);
    ed_dataset_source_free(NULL);
}

static void expect_error(const char *text, const char *message)
{
    char err[ED_ERR_LEN] = "";
    ed_dataset_source_t *s = (ed_dataset_source_t *)1;
    ED_CHECK_INT(ed_dataset_source_jsonl_parse(&s, "examples.jsonl", text, strlen(text), err), ED_EINVAL);
    ED_CHECK(s == NULL);
    if (!strstr(err, message))
        printf("#   expected \"%s\" in \"%s\"\n", message, err);
    ED_CHECK(strstr(err, message) != NULL);
}

#define OK_EXAMPLE "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"Yo\"}]}\n"

ED_TEST(jsonl_errors_name_the_line_and_field)
{
    expect_error(OK_EXAMPLE OK_EXAMPLE
                 "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"bot\", \"content\": \"x\"}]}",
                 "examples.jsonl:3: messages[1].role: 'bot' is not a role");
    expect_error(OK_EXAMPLE "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}",
                 "examples.jsonl:2: messages: no assistant turn");
    expect_error("{\"messages\": [{\"role\": \"user\", \"content\": 3}]}",
                 "examples.jsonl:1: messages[0].content: expected a string");
    expect_error("{\"messages\": [{\"content\": \"x\"}]}", "examples.jsonl:1: messages[0].role: expected a string");
    expect_error("{\"messages\": [\"x\"]}", "examples.jsonl:1: messages[0]: expected an object");
    expect_error("{\"messages\": {}}", "examples.jsonl:1: messages: expected an array");
    expect_error("{\"messages\": []}", "examples.jsonl:1: messages: empty");
    expect_error("\n{\"title\": \"x\", \"text\": 5}", "examples.jsonl:2: text: expected a string");
    expect_error("{\"title\": 5, \"text\": \"x\"}", "examples.jsonl:1: title: expected a string");
    expect_error("{\"id\": [], \"text\": \"x\"}", "examples.jsonl:1: id: expected a string or an integer");
    expect_error("{\"title\": \"x\"}", "examples.jsonl:1: expected \"messages\" (an example) or \"text\"");
    expect_error("{\"text\": \"x\", \"messages\": []}", "examples.jsonl:1: both \"messages\" and \"text\"");
    expect_error("[1, 2]", "examples.jsonl:1: expected an object");
    expect_error("{\"text\": \"x\"}\n{\"text\": ", "examples.jsonl:2: not JSON");
    expect_error("{\"text\": \"x\", \"text\": \"y\"}", "examples.jsonl:1: not JSON: duplicate object key");
    expect_error("\n\n  \n", "examples.jsonl: no documents or examples");
    size_t big = ED_DATASET_LINE_MAX + 16;
    char *line = malloc(big + 1);
    ED_REQUIRE(line);
    memset(line, ' ', big);
    memcpy(line, "{\"text\": \"", 10);
    line[big - 2] = '"', line[big - 1] = '}', line[big] = '\0';
    expect_error(line, "examples.jsonl:1: 1048592 bytes, a line holds at most 1048576");
    free(line);
    char err[ED_ERR_LEN];
    ed_dataset_source_t *s;
    ED_CHECK_INT(ed_dataset_source_jsonl(&s, "/nonexistent/x.jsonl", err), ED_ENOENT);
    ED_CHECK(strstr(err, "/nonexistent/x.jsonl") != NULL);
}

ED_TEST(the_personal_notes_load_as_documents_and_build)
{
    char err[ED_ERR_LEN] = "";
    ed_dataset_source_t *s;
    ED_REQUIRE(ed_dataset_source_jsonl(&s, NOTES, err) == 0);
    ED_CHECK_INT(s->n_docs, 187);
    ED_CHECK_INT(s->n_examples, 0);
    ED_CHECK_STR(s->docs[0].title, "Diary 16th July");
    ED_CHECK_STR(s->doc_names[0], "d000");
    ED_CHECK(is(s->docs[0].text, s->docs[0].text_len,
                "Wednesday: volunteering at Hill Food Bank, Nadira came too. Felt great."));
    ED_CHECK_STR(s->doc_names[186], "d186");
    ed_gguf_t *gguf;
    ed_vocab_t *vocab;
    ED_REQUIRE(ed_gguf_open(&gguf, REAL, err) == 0 && ed_vocab_load(&vocab, gguf, err) == 0);
    ed_prompt_model_t pm = {vocab, ED_CHAT_CHATML, "<|endoftext|>", "<|im_end|>", 1024};
    ed_dataset_config_t c;
    ed_dataset_config_default(&c);
    c.augment = ED_AUG_PLAIN | ED_AUG_QA;
    c.pack = false;
    ed_dataset_t *ds, *packed;
    ED_REQUIRE(ed_dataset_build(&ds, &pm, s->docs, s->n_docs, NULL, 0, &c, err) == 0);
    ED_CHECK_INT(ds->n_heldout_docs, 19);
    ED_CHECK_INT(ds->n_train_docs, 168);
    ED_CHECK_INT(ds->n_heldout, 19);
    ED_CHECK_INT(ds->n_train, 2 * 168);
    printf("#   notes: %d train windows (%lld tokens), %d held out (%lld tokens)\n", ds->n_train,
           (long long)ds->train_tokens, ds->n_heldout, (long long)ds->heldout_tokens);
    /* packed (the default): a few windows of 256 tokens, the same tokens */
    c.pack = true;
    ED_REQUIRE(ed_dataset_build(&packed, &pm, s->docs, s->n_docs, NULL, 0, &c, err) == 0);
    printf("#   packed: %d train windows, %d held out\n", packed->n_train, packed->n_heldout);
    ED_CHECK(packed->n_train < ds->n_train / 4 && packed->n_heldout < ds->n_heldout / 4);
    ED_CHECK(packed->train_tokens == ds->train_tokens && packed->heldout_tokens == ds->heldout_tokens);
    ed_dataset_free(packed);
    ed_dataset_free(ds);
    ed_vocab_free(vocab);
    ed_gguf_close(gguf);
    ed_dataset_source_free(s);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX];
    test_path(path, dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    fputs(text, f);
    fclose(f);
}

ED_TEST(a_folder_gives_its_text_files_in_name_order)
{
    const char *dir = test_dir();
    write_file(dir, "b.md", "\n# Garden shed \n\nThe key hangs behind the door.\n");
    write_file(dir, "a.txt", "Bins: blue on Monday.\n\nGreen on Thursday.");
    write_file(dir, "c.md", "Intro line.\n\n## Later heading\nMore.");
    write_file(dir, ".hidden.txt", "never");
    write_file(dir, "d.json", "{}");
    char sub[PATH_MAX];
    test_path(sub, dir, "e.txt");
    ED_REQUIRE(mkdir(sub, 0700) == 0); /* a folder named like a file */
    char err[ED_ERR_LEN];
    ed_dataset_source_t *s;
    ED_REQUIRE(ed_dataset_source_folder(&s, dir, err) == 0);
    ED_REQUIRE(s->n_docs == 3);
    ED_CHECK_STR(s->doc_names[0], "a.txt");
    ED_CHECK_STR(s->docs[0].title, "a");
    ED_CHECK(is(s->docs[0].text, s->docs[0].text_len, "Bins: blue on Monday.\n\nGreen on Thursday."));
    ED_CHECK_STR(s->doc_names[1], "b.md");
    ED_CHECK_STR(s->docs[1].title, "Garden shed");
    ED_CHECK(is(s->docs[1].text, s->docs[1].text_len, "\nThe key hangs behind the door.\n"));
    ED_CHECK_STR(s->docs[2].title, "Later heading");
    ED_CHECK(is(s->docs[2].text, s->docs[2].text_len, "Intro line.\n\n## Later heading\nMore."));
    for (int i = 0; i < 3; i++)
        ED_CHECK_INT(s->docs[i].id, i);
    ed_dataset_source_free(s);
    char empty[PATH_MAX];
    test_path(empty, dir, "empty");
    ED_REQUIRE(mkdir(empty, 0700) == 0);
    ED_CHECK_INT(ed_dataset_source_folder(&s, empty, err), ED_EINVAL);
    ED_CHECK(strstr(err, "no .txt or .md files") != NULL);
    test_path(empty, dir, "missing");
    ED_CHECK_INT(ed_dataset_source_folder(&s, empty, err), ED_ENOENT);
    ED_CHECK(strstr(err, "missing") != NULL);
}

static ed_store_t *open_store(const char *dir)
{
    char err[ED_ERR_LEN] = "";
    ed_store_t *store = NULL;
    if (ed_store_open(&store, dir, NULL, err) != 0)
        printf("#   ed_store_open: %s\n", err);
    return store;
}

ED_TEST(a_store_gives_its_collections_documents_and_chunks)
{
    const char *dir = test_dir();
    ed_store_t *store = open_store(dir);
    ED_REQUIRE(store);
    char err[ED_ERR_LEN];
    ed_collection_t notes, other, empty;
    ED_REQUIRE(ed_store_collection_create(store, "notes", 1000, "hash-v1-8", TEST_DIM, &notes, err) == 0);
    ED_REQUIRE(ed_store_collection_create(store, "other", 1000, "hash-v1-8", TEST_DIM, &other, err) == 0);
    ED_REQUIRE(ed_store_collection_create(store, "empty", 1000, "hash-v1-8", TEST_DIM, &empty, err) == 0);
    static test_doc_t a, b, c;
    static const char text_a[] = "Kitchen\nLentil soup needs 25 minutes and cumin at the end of it all.";
    test_doc(&a, notes.id, "Recipes", text_a, 1);
    for (int i = 0; i < a.in.n_chunks; i++) /* the heading "Kitchen" above each chunk */
        a.chunks[i].context_offset = 0, a.chunks[i].context_len = 7;
    test_doc(&b, notes.id, "Passport", "The passport is in the blue folder.", 2);
    test_doc(&c, other.id, "", "Bins go out on Monday.", 3);
    int64_t ids[3];
    ED_REQUIRE(ed_store_documents_add(store, &a.in, 1, &ids[0], err) == 0);
    ED_REQUIRE(ed_store_documents_add(store, &b.in, 1, &ids[1], err) == 0);
    ED_REQUIRE(ed_store_documents_add(store, &c.in, 1, &ids[2], err) == 0);
    const char *names[] = {"other", "notes", "other"};
    ed_dataset_source_t *s;
    ED_REQUIRE(ed_dataset_source_store(&s, store, names, 3, err) == 0);
    ED_REQUIRE(s->n_docs == 3);
    ED_CHECK_INT(s->docs[0].id, ids[2]);
    ED_CHECK_INT(s->docs[1].id, ids[0]);
    ED_CHECK_INT(s->docs[2].id, ids[1]);
    const ed_dataset_doc_t *d = &s->docs[1];
    ED_CHECK_STR(d->title, "Recipes");
    ED_CHECK(is(d->text, d->text_len, text_a));
    ED_REQUIRE(d->n_chunks == a.in.n_chunks && d->n_chunks >= 2);
    for (int i = 0; i < d->n_chunks; i++) {
        ED_CHECK_INT(d->chunks[i].offset, a.chunks[i].offset);
        ED_CHECK_INT(d->chunks[i].len, a.chunks[i].len);
        ED_CHECK_INT(d->chunks[i].context_offset, 0);
        ED_CHECK_INT(d->chunks[i].context_len, 7);
    }
    char expect[64];
    snprintf(expect, sizeof expect, "notes/%lld", (long long)ids[0]);
    ED_CHECK_STR(s->doc_names[1], expect);
    ed_dataset_source_free(s);
    const char *unknown[] = {"notes", "nope"};
    ED_CHECK_INT(ed_dataset_source_store(&s, store, unknown, 2, err), ED_ENOENT);
    ED_CHECK(strstr(err, "collections[1]: no collection 'nope'") != NULL);
    const char *none[] = {"empty"};
    ED_CHECK_INT(ed_dataset_source_store(&s, store, none, 1, err), ED_EINVAL);
    ED_CHECK_STR(err, "collections: no documents to train on");
    ED_CHECK_INT(ed_dataset_source_store(&s, store, NULL, 0, err), ED_EINVAL);
    ED_CHECK_STR(err, "collections: no documents to train on");
    ed_store_close(store);
}

ED_TEST(free_wipes_every_copy_of_the_text)
{
    ed_dataset_source_t *s = parse("{\"title\": \"Canary\", \"text\": \"canary-7f3a secret text\"}\n" OK_EXAMPLE);
    ED_REQUIRE(s);
    n_watched = n_freed_clean = n_freed_dirty = 0;
    bool canary_seen = false;
    for (size_t i = 0; i < s->mem->n; i++) {
        ED_REQUIRE(n_watched < WATCH_MAX);
        canary_seen = canary_seen || memmem(s->mem->ptr[i], s->mem->bytes[i], "canary-7f3a", 11) != NULL;
        watched[n_watched] = s->mem->ptr[i];
        watched_bytes[n_watched++] = s->mem->bytes[i];
    }
    ED_CHECK(canary_seen);
    int n = n_watched;
    ed_dataset_source_free(s);
    ED_CHECK_INT(n_freed_clean, n);
    ED_CHECK_INT(n_freed_dirty, 0);
}

ED_TEST_MAIN(jsonl_reads_documents_and_examples, jsonl_errors_name_the_line_and_field,
             the_personal_notes_load_as_documents_and_build, a_folder_gives_its_text_files_in_name_order,
             a_store_gives_its_collections_documents_and_chunks, free_wipes_every_copy_of_the_text)
