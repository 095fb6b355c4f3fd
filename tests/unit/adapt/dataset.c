/* Tests daemon/adapt/dataset.c on real vocabularies (the shared real model's
 * byte-level BPE with ChatML, the llama SPM vocabulary with Zephyr turns):
 * windows hold the tokenizer's output of the text ingest embeds, targets are
 * the next tokens, a long piece continues over windows, chat examples carry
 * the loss on the assistant's content and end of turn only and render as
 * inference renders them, the split is seeded, by document and disjoint
 * (by piece for one document), the augmentations add what they say, bad
 * input names its field, and freeing wipes every token buffer (free is
 * watched: the file includes dataset.c); packing keeps every window as a
 * segment. */
#include "adapt/dataset.h"
#include "core/error.h"
#include "model/chat.h"
#include "model/gguf.h"
#include "model/prompt.h"
#include "model/tokenizer.h"
#include "model/vocab.h"
#include "tests/test.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/wipe_hook.h"

#define free watched_free
#include "daemon/adapt/dataset.c"
#undef free

#define REAL "../shared/testdata/real/edged-tiny-26m-q8_0.gguf"
#define SPM "../shared/testdata/vocab/ggml-vocab-llama-spm.gguf"

static ed_gguf_t *gguf;
static ed_vocab_t *vocab;

/* The real model (ChatML) or the llama SPM vocabulary (Zephyr turns). */
static ed_prompt_model_t open_model(bool real)
{
    char err[ED_ERR_LEN];
    if (ed_gguf_open(&gguf, real ? REAL : SPM, err) != 0 || ed_vocab_load(&vocab, gguf, err) != 0) {
        printf("#   %s\n", err);
        exit(1); /* the test's child process: this test fails */
    }
    if (real)
        return (ed_prompt_model_t){vocab, ED_CHAT_CHATML, "<|endoftext|>", "<|im_end|>", 1024};
    return (ed_prompt_model_t){vocab, ED_CHAT_ZEPHYR, "<s>", "</s>", 1024};
}

static ed_dataset_config_t config(int seq_len, unsigned augment)
{
    ed_dataset_config_t c;
    ed_dataset_config_default(&c);
    c.seq_len = seq_len;
    c.augment = augment;
    c.pack = false; /* one window per piece; packing is tested on its own */
    return c;
}

/* What a document's piece should be: text encoded as documents are (BOS as
 * the vocabulary asks, specials as text) and the end-of-text token. */
static size_t expected_tokens(const char *text, int32_t *ids, size_t cap)
{
    size_t n = 0;
    ED_CHECK_INT(ed_tokenizer_encode(vocab, text, strlen(text), true, false, ids, cap, &n), 0);
    ids[n++] = end_of_text(vocab);
    return n;
}

static bool window_is(const ed_window_t *w, const int32_t *ids, size_t n)
{
    return w->n == (int)n && memcmp(w->tokens, ids, n * sizeof *ids) == 0;
}

/* The window of the document `id` (there must be one). */
static const ed_window_t *window_of(const ed_dataset_t *ds, int64_t id, int *count)
{
    const ed_window_t *found = NULL;
    *count = 0;
    for (int i = 0; i < ds->n_train + ds->n_heldout; i++) {
        const ed_window_t *w = i < ds->n_train ? &ds->train[i] : &ds->heldout[i - ds->n_train];
        if (w->doc_id == id) {
            found = found ? found : w;
            ++*count;
        }
    }
    return found;
}

static void check_targets_next(const ed_window_t *w)
{
    int n_targets = 0;
    for (int j = 0; j < w->n; j++) {
        if (j + 1 < w->n)
            ED_CHECK_INT(w->targets[j], w->tokens[j + 1]);
        n_targets += w->targets[j] >= 0;
    }
    ED_CHECK_INT(w->targets[w->n - 1], -1);
    ED_CHECK_INT(w->n_targets, n_targets);
}

static char *decode(const int32_t *ids, size_t n)
{
    static char buf[16384];
    size_t len = 0;
    ED_CHECK_INT(ed_tokenizer_decode(vocab, ids, n, true, buf, sizeof buf - 1, &len), 0);
    buf[len < sizeof buf ? len : sizeof buf - 1] = '\0';
    return buf;
}

#define DOC(i, t, x) {.id = (i), .title = (t), .text = (x), .text_len = sizeof(x) - 1}

ED_TEST(plain_windows_are_the_tokens_of_title_then_text)
{
    ed_prompt_model_t pm = open_model(true);
    ed_dataset_doc_t docs[] = {
        DOC(10, "Dentist", "Dr Okafor moved the check-up to 14 May at 09:30."),
        DOC(11, "Passport", "The passport is in the blue folder, second drawer."),
        DOC(12, "", "A note without a title <|im_end|> spells a control token."),
    };
    ed_dataset_config_t c = config(256, ED_AUG_PLAIN);
    char err[ED_ERR_LEN];
    ed_dataset_t *ds;
    ED_REQUIRE(ed_dataset_build(&ds, &pm, docs, 3, NULL, 0, &c, err) == 0);
    ED_CHECK_INT(ds->n_train + ds->n_heldout, 3);
    ED_CHECK_INT(ds->n_heldout, 1);
    const char *expect[] = {"Dentist\nDr Okafor moved the check-up to 14 May at 09:30.",
                            "Passport\nThe passport is in the blue folder, second drawer.",
                            "A note without a title <|im_end|> spells a control token."};
    for (int d = 0; d < 3; d++) {
        int32_t ids[256];
        size_t n = expected_tokens(expect[d], ids, 256);
        int count;
        const ed_window_t *w = window_of(ds, docs[d].id, &count);
        ED_REQUIRE(w && count == 1);
        ED_CHECK(window_is(w, ids, n));
        check_targets_next(w);
        ED_CHECK_INT(w->tokens[w->n - 1], 0); /* <|endoftext|> ends a document */
    }
    /* the control token spelled in the text stayed text */
    int count;
    const ed_window_t *w = window_of(ds, 12, &count);
    for (int j = 0; j < w->n; j++)
        ED_CHECK(w->tokens[j] != 2);
    int64_t tokens = 0;
    for (int i = 0; i < ds->n_train; i++)
        tokens += ds->train[i].n_targets;
    ED_CHECK_INT(ds->train_tokens, tokens);
    ed_dataset_free(ds);
}

ED_TEST(chunks_carry_their_heading_as_ingest_embeds_them)
{
    ed_prompt_model_t pm = open_model(true);
    static const char text[] = "Recipes\nLentil soup: simmer 25 minutes.\nAdd cumin at the end.";
    const ed_dataset_chunk_t chunks[] = {{.offset = 8, .len = 31, .context_offset = 0, .context_len = 7},
                                         {.offset = 40, .len = 21, .context_offset = 0, .context_len = 7}};
    ed_dataset_doc_t docs[] = {{.id = 1, .title = "Kitchen", .text = text, .text_len = sizeof text - 1,
                                .chunks = chunks, .n_chunks = 2},
                               DOC(2, "Other", "Nothing much here.")};
    ed_dataset_config_t c = config(256, ED_AUG_PLAIN);
    char err[ED_ERR_LEN];
    ed_dataset_t *ds;
    ED_REQUIRE(ed_dataset_build(&ds, &pm, docs, 2, NULL, 0, &c, err) == 0);
    int32_t a[256], b[256];
    size_t na = expected_tokens("Kitchen\nRecipes\nLentil soup: simmer 25 minutes.", a, 256);
    size_t nb = expected_tokens("Kitchen\nRecipes\nAdd cumin at the end.", b, 256);
    int found_a = 0, found_b = 0;
    for (int i = 0; i < ds->n_train + ds->n_heldout; i++) {
        const ed_window_t *w = i < ds->n_train ? &ds->train[i] : &ds->heldout[i - ds->n_train];
        found_a += window_is(w, a, na);
        found_b += window_is(w, b, nb);
    }
    ED_CHECK_INT(found_a, 1);
    ED_CHECK_INT(found_b, 1);
    ed_dataset_free(ds);
}

ED_TEST(a_long_piece_continues_over_windows)
{
    ed_prompt_model_t pm = open_model(true);
    static const char long_text[] =
        "The garden shed holds the lawn mower, two rakes, a ladder and the winter tyres. The key hangs behind the "
        "kitchen door. Oil the mower in April and sharpen the blades in May; the spare belt is on the top shelf.";
    ed_dataset_doc_t docs[] = {DOC(1, "Shed", long_text), DOC(2, "Short", "Just one line.")};
    int32_t ids[512];
    size_t n = expected_tokens("Shed\n" "The garden shed holds the lawn mower, two rakes, a ladder and the winter tyres. "
                               "The key hangs behind the kitchen door. Oil the mower in April and sharpen the blades "
                               "in May; the spare belt is on the top shelf.",
                               ids, 512);
    ED_REQUIRE(n > 40);
    /* a seed that holds the long document out: held-out windows keep their order */
    for (uint64_t seed = 1; seed < 64; seed++) {
        ed_dataset_config_t c = config(16, ED_AUG_PLAIN);
        c.seed = seed;
        char err[ED_ERR_LEN];
        ed_dataset_t *ds;
        ED_REQUIRE(ed_dataset_build(&ds, &pm, docs, 2, NULL, 0, &c, err) == 0);
        if (ds->n_heldout_docs != 1 || ds->heldout_doc_ids[0] != 1) {
            ed_dataset_free(ds);
            continue;
        }
        /* window k starts with window k-1's last token; together they are the stream */
        size_t at = 0;
        int64_t targets = 0;
        for (int i = 0; i < ds->n_heldout; i++) {
            const ed_window_t *w = &ds->heldout[i];
            ED_CHECK(w->n <= 16 && w->n >= 2);
            ED_CHECK(at + (size_t)w->n <= n && memcmp(w->tokens, ids + at, (size_t)w->n * sizeof *ids) == 0);
            check_targets_next(w);
            targets += w->n_targets;
            at += (size_t)w->n - 1;
        }
        ED_CHECK_INT(at, n - 1);
        ED_CHECK_INT(targets, n - 1); /* every next-token pair once */
        ED_CHECK_INT(ds->heldout_tokens, n - 1);
        ed_dataset_free(ds);
        return;
    }
    ED_CHECK(!"no seed held the long document out");
}

#define MSG(role, text) {role, text, sizeof text - 1}

/* The assistant contents of m, each followed by end_turn, must be exactly
 * what the targets spell, run by run; the tokens are inference's. */
static void check_chat(const ed_prompt_model_t *pm, const ed_chat_message_t *m, size_t n_m, const char *end_turn)
{
    ed_dataset_example_t ex = {m, n_m};
    ed_dataset_doc_t none;
    ed_dataset_config_t c = config(512, ED_AUG_PLAIN);
    char err[ED_ERR_LEN];
    ed_dataset_t *ds;
    /* one example alone cannot be split: two copies, one held out */
    ed_dataset_example_t two[2] = {ex, ex};
    (void)none;
    ED_REQUIRE(ed_dataset_build(&ds, pm, NULL, 0, two, 2, &c, err) == 0);
    ED_REQUIRE(ds->n_train == 1 && ds->n_heldout == 1);
    const ed_window_t *w = &ds->train[0];
    ED_CHECK_INT(w->doc_id, -1);
    /* the tokens are the ones inference builds, up to the last end of turn */
    ed_prompt_in_t in = {.messages = m, .n_messages = n_m};
    ed_prompt_t p;
    ED_REQUIRE(ed_prompt_build(pm, &in, &p) == 0);
    ED_CHECK(w->n <= p.n_tokens && memcmp(w->tokens, p.tokens, (size_t)w->n * sizeof *w->tokens) == 0);
    ed_prompt_free(&p);
    /* the runs of targets spell each assistant turn and its end */
    size_t turn = 0;
    int j = 0;
    while (j < w->n) {
        if (w->targets[j] < 0) {
            j++;
            continue;
        }
        int32_t run[1024];
        size_t k = 0;
        while (j < w->n && w->targets[j] >= 0)
            run[k++] = w->targets[j++];
        while (turn < n_m && m[turn].role != ED_CHAT_ASSISTANT)
            turn++;
        ED_REQUIRE(turn < n_m);
        char expect[1024];
        snprintf(expect, sizeof expect, "%.*s%s", (int)m[turn].len, m[turn].content, end_turn);
        ED_CHECK_STR(decode(run, k), expect);
        turn++;
    }
    while (turn < n_m && m[turn].role != ED_CHAT_ASSISTANT)
        turn++;
    ED_CHECK_INT(turn, n_m); /* every assistant turn had its run */
    ED_CHECK(ed_vocab_is_eog(vocab, w->tokens[w->n - 1]) || w->tokens[w->n - 1] == vocab->eos);
    ed_dataset_free(ds);
}

ED_TEST(chat_examples_take_the_loss_on_assistant_turns_only_chatml)
{
    ed_prompt_model_t pm = open_model(true);
    const ed_chat_message_t m[] = {
        MSG(ED_CHAT_SYSTEM, "Be brief."),
        MSG(ED_CHAT_USER, "When is the dentist?"),
        MSG(ED_CHAT_ASSISTANT, "On 14 May at 09:30."),
        MSG(ED_CHAT_USER, "And the passport?"),
        MSG(ED_CHAT_ASSISTANT, "In the blue folder <|im_end|> (second drawer)."),
    };
    check_chat(&pm, m, 5, "<|im_end|>");
}

ED_TEST(chat_examples_take_the_loss_on_assistant_turns_only_zephyr_spm)
{
    ed_prompt_model_t pm = open_model(false);
    const ed_chat_message_t m[] = {
        MSG(ED_CHAT_USER, "When is the dentist?"),
        MSG(ED_CHAT_ASSISTANT, "On 14 May at 09:30."),
        MSG(ED_CHAT_USER, "And the passport?"),
        MSG(ED_CHAT_ASSISTANT, "In the blue folder."),
    };
    check_chat(&pm, m, 4, "</s>");
}

ED_TEST(a_long_example_is_cut_from_the_left_keeping_its_last_answer)
{
    ed_prompt_model_t pm = open_model(true);
    const ed_chat_message_t m[] = {
        MSG(ED_CHAT_USER, "Tell me everything about the garden shed, the mower, the rakes, the ladder and the tyres."),
        MSG(ED_CHAT_ASSISTANT, "Everything is in the shed."),
    };
    ed_dataset_example_t two[2] = {{m, 2}, {m, 2}};
    ed_dataset_config_t c = config(16, ED_AUG_PLAIN);
    char err[ED_ERR_LEN];
    ed_dataset_t *ds;
    ED_REQUIRE(ed_dataset_build(&ds, &pm, NULL, 0, two, 2, &c, err) == 0);
    const ed_window_t *w = &ds->train[0];
    ED_CHECK_INT(w->n, 16);
    int32_t run[16];
    size_t k = 0;
    for (int j = 0; j < w->n; j++)
        if (w->targets[j] >= 0)
            run[k++] = w->targets[j];
    ED_CHECK_STR(decode(run, k), "Everything is in the shed.<|im_end|>");
    ed_dataset_free(ds);
    /* an answer that cannot fit is refused, naming the example */
    c.seq_len = 4;
    ED_CHECK_INT(ed_dataset_build(&ds, &pm, NULL, 0, two, 2, &c, err), ED_EINVAL);
    ED_CHECK(strstr(err, "examples[0]") && strstr(err, "seq_len 4"));
}

static ed_dataset_t *build_notes(const ed_prompt_model_t *pm, ed_dataset_doc_t *docs, int n, uint64_t seed,
                                 unsigned augment)
{
    ed_dataset_config_t c = config(256, augment);
    c.seed = seed;
    c.heldout_fraction = 0.2;
    char err[ED_ERR_LEN];
    ed_dataset_t *ds = NULL;
    int rc = ed_dataset_build(&ds, pm, docs, n, NULL, 0, &c, err);
    if (rc != 0)
        printf("#   %s\n", err);
    return ds;
}

static char note_text[40][64], note_title[40][32];

static void make_notes(ed_dataset_doc_t *docs, int n)
{
    for (int i = 0; i < n; i++) {
        snprintf(note_title[i], sizeof note_title[i], "Note %d", i);
        int len = snprintf(note_text[i], sizeof note_text[i], "Fact number %d is %d. It is true.", i, i * 7);
        docs[i] = (ed_dataset_doc_t){.id = 100 + i, .title = note_title[i], .text = note_text[i],
                                     .text_len = (size_t)len};
    }
}

ED_TEST(the_split_is_seeded_by_document_and_disjoint)
{
    ed_prompt_model_t pm = open_model(true);
    ed_dataset_doc_t docs[20], reversed[20];
    make_notes(docs, 20);
    for (int i = 0; i < 20; i++)
        reversed[i] = docs[19 - i];
    ed_dataset_t *a = build_notes(&pm, docs, 20, 7, ED_AUG_PLAIN);
    ed_dataset_t *b = build_notes(&pm, reversed, 20, 7, ED_AUG_PLAIN); /* the input's order does not matter */
    ed_dataset_t *other = build_notes(&pm, docs, 20, 8, ED_AUG_PLAIN);
    ED_REQUIRE(a && b && other);
    ED_CHECK_INT(a->n_heldout_docs, 4);
    ED_CHECK_INT(a->n_train_docs, 16);
    ED_REQUIRE(a->n_heldout_docs == b->n_heldout_docs && a->n_train == b->n_train);
    ED_CHECK(memcmp(a->heldout_doc_ids, b->heldout_doc_ids, 4 * sizeof(int64_t)) == 0);
    for (int i = 0; i < a->n_train; i++) /* the same seeded order */
        ED_CHECK(a->train[i].doc_id == b->train[i].doc_id && a->train[i].n == b->train[i].n &&
                 memcmp(a->train[i].tokens, b->train[i].tokens, (size_t)a->train[i].n * sizeof(int32_t)) == 0);
    ED_CHECK(memcmp(a->heldout_doc_ids, other->heldout_doc_ids, 4 * sizeof(int64_t)) != 0);
    for (int i = 0; i < a->n_train; i++)
        for (int h = 0; h < a->n_heldout_docs; h++)
            ED_CHECK(a->train[i].doc_id != a->heldout_doc_ids[h]);
    for (int i = 0; i < a->n_heldout; i++) {
        bool listed = false;
        for (int h = 0; h < a->n_heldout_docs; h++)
            listed = listed || a->heldout[i].doc_id == a->heldout_doc_ids[h];
        ED_CHECK(listed);
    }
    /* the order is shuffled: not the ids' order */
    bool sorted = true;
    for (int i = 1; i < a->n_train; i++)
        sorted = sorted && a->train[i - 1].doc_id < a->train[i].doc_id;
    ED_CHECK(!sorted);
    ed_dataset_free(a);
    ed_dataset_free(b);
    ed_dataset_free(other);
}

ED_TEST(one_document_is_split_by_piece)
{
    ed_prompt_model_t pm = open_model(true);
    static const char text[] = "Alpha paragraph about apples.\n\nBeta paragraph about bananas.\n\n \n"
                               "Gamma paragraph about cherries.\n\nDelta paragraph about dates.";
    ed_dataset_doc_t doc = DOC(5, "Fruit", text);
    ed_dataset_config_t c = config(16, ED_AUG_PLAIN); /* a paragraph fits a window, two do not */
    c.heldout_fraction = 0.25;
    char err[ED_ERR_LEN];
    ed_dataset_t *ds;
    ED_REQUIRE(ed_dataset_build(&ds, &pm, &doc, 1, NULL, 0, &c, err) == 0);
    ED_CHECK_INT(ds->n_heldout_docs, 1);
    ED_CHECK_INT(ds->n_train_docs, 1);
    ED_CHECK_INT(ds->n_train + ds->n_heldout, 4);
    /* one paragraph held out, and no train window holds its words */
    static char held[4096], trained[4096];
    held[0] = trained[0] = '\0';
    for (int i = 0; i < ds->n_heldout; i++)
        strcat(held, decode(ds->heldout[i].tokens, (size_t)ds->heldout[i].n));
    for (int i = 0; i < ds->n_train; i++)
        strcat(trained, decode(ds->train[i].tokens, (size_t)ds->train[i].n));
    const char *words[] = {"apples", "bananas", "cherries", "dates"};
    int n_held = 0;
    for (int k = 0; k < 4; k++) {
        bool h = strstr(held, words[k]) != NULL, t = strstr(trained, words[k]) != NULL;
        ED_CHECK(h != t);
        n_held += h;
    }
    ED_CHECK_INT(n_held, 1);
    ed_dataset_free(ds);
    /* a single paragraph has nothing to hold out */
    ed_dataset_doc_t one = DOC(6, "One", "Only one paragraph.");
    ED_CHECK_INT(ed_dataset_build(&ds, &pm, &one, 1, NULL, 0, &c, err), ED_EINVAL);
    ED_CHECK(strstr(err, "documents") != NULL);
}

/* Every window of a dataset decoded, train first. */
static int decoded(const ed_dataset_t *ds, char out[][512], int cap)
{
    int n = 0;
    for (int i = 0; i < ds->n_train && n < cap; i++)
        snprintf(out[n++], 512, "%s", decode(ds->train[i].tokens, (size_t)ds->train[i].n));
    return n;
}

static bool has(char texts[][512], int n, const char *text)
{
    for (int i = 0; i < n; i++)
        if (strcmp(texts[i], text) == 0)
            return true;
    return false;
}

ED_TEST(augmentations_add_what_they_say)
{
    ed_prompt_model_t pm = open_model(true);
    ed_dataset_doc_t docs[] = {
        DOC(1, "Dentist", "The check-up is on 14 May. Dr Okafor sees me. Bring the card!"),
        DOC(2, "Passport", "The passport is in the blue folder."),
        DOC(3, "Bins", "Blue bin on Monday. Green bin on Thursday."),
    };
    static char plain[64][512], all[64][512];
    ed_dataset_t *p = build_notes(&pm, docs, 3, 3, ED_AUG_PLAIN);
    ed_dataset_t *a = build_notes(&pm, docs, 3, 3, ED_AUG_PLAIN | ED_AUG_NO_TITLE | ED_AUG_SHUFFLED | ED_AUG_QA);
    ED_REQUIRE(p && a);
    int np = decoded(p, plain, 64), na = decoded(a, all, 64);
    ED_CHECK_INT(np, 2);
    /* the held-out windows stay plain whatever the augmentations */
    ED_REQUIRE(p->n_heldout == a->n_heldout && p->n_heldout == 1);
    ED_CHECK(p->heldout[0].n == a->heldout[0].n &&
             memcmp(p->heldout[0].tokens, a->heldout[0].tokens, (size_t)p->heldout[0].n * 4) == 0);
    int64_t held = p->heldout_doc_ids[0];
    for (int d = 0; d < 3; d++) {
        if (docs[d].id == held)
            continue;
        char text[512];
        snprintf(text, sizeof text, "%s\n%s<|endoftext|>", docs[d].title, docs[d].text);
        ED_CHECK(has(plain, np, text) && has(all, na, text));
        snprintf(text, sizeof text, "%s<|endoftext|>", docs[d].text);
        ED_CHECK(!has(plain, np, text) && has(all, na, text));
        snprintf(text, sizeof text, "<|im_start|>user\nWhat do my notes say about %s?<|im_end|>\n"
                                    "<|im_start|>assistant\n%s<|im_end|>", docs[d].title, docs[d].text);
        ED_CHECK(has(all, na, text));
    }
    /* shuffled: the title, then the same sentences in another order */
    int n_shuffled = 0;
    for (int i = 0; i < na; i++) {
        for (int d = 0; d < 3; d++) {
            size_t tl = strlen(docs[d].title);
            if (strncmp(all[i], docs[d].title, tl) != 0 || all[i][tl] != '\n')
                continue;
            const char *body = all[i] + tl + 1;
            if (strncmp(body, docs[d].text, docs[d].text_len) == 0)
                continue; /* the plain one */
            n_shuffled++;
            ED_CHECK_INT(strlen(body), docs[d].text_len + strlen("<|endoftext|>"));
            ED_CHECK(docs[d].id != 2); /* one sentence: no shuffled window */
            ED_CHECK(strstr(body, d == 0 ? "Dr Okafor sees me." : "Green bin on Thursday.") != NULL);
        }
    }
    ED_CHECK_INT(n_shuffled, held == 2 ? 2 : 1);
    /* QA windows: the loss on the answer only */
    for (int i = 0; i < a->n_train; i++) {
        const ed_window_t *w = &a->train[i];
        if (w->tokens[0] != 1) /* <|im_start|> opens a chat */
            continue;
        int32_t run[256];
        size_t k = 0;
        for (int j = 0; j < w->n; j++)
            if (w->targets[j] >= 0)
                run[k++] = w->targets[j];
        const char *answer = decode(run, k);
        bool one_of = false;
        for (int d = 0; d < 3; d++) {
            char expect[256];
            snprintf(expect, sizeof expect, "%s<|im_end|>", docs[d].text);
            one_of = one_of || strcmp(answer, expect) == 0;
        }
        ED_CHECK(one_of);
    }
    ed_dataset_free(p);
    ed_dataset_free(a);
}

static void expect_error(const ed_prompt_model_t *pm, const ed_dataset_doc_t *docs, int n_docs,
                         const ed_dataset_example_t *ex, int n_ex, const ed_dataset_config_t *c, const char *field)
{
    char err[ED_ERR_LEN] = "";
    ed_dataset_t *ds = (ed_dataset_t *)1;
    int rc = ed_dataset_build(&ds, pm, docs, n_docs, ex, n_ex, c, err);
    ED_CHECK_INT(rc, ED_EINVAL);
    ED_CHECK(ds == NULL);
    if (!strstr(err, field))
        printf("#   expected \"%s\" in \"%s\"\n", field, err);
    ED_CHECK(strstr(err, field) != NULL);
}

ED_TEST(bad_input_names_its_field)
{
    ed_prompt_model_t pm = open_model(true);
    ed_dataset_doc_t docs[2];
    make_notes(docs, 2);
    ed_dataset_config_t ok = config(256, ED_AUG_PLAIN), c;
    c = ok, c.seq_len = 1;
    expect_error(&pm, docs, 2, NULL, 0, &c, "seq_len: 1");
    c = ok, c.heldout_fraction = 1.5;
    expect_error(&pm, docs, 2, NULL, 0, &c, "heldout_fraction: 1.5, expected above 0 and below 1");
    c = ok, c.heldout_fraction = 0;
    expect_error(&pm, docs, 2, NULL, 0, &c, "heldout_fraction: 0");
    c = ok, c.augment = 0;
    expect_error(&pm, docs, 2, NULL, 0, &c, "augment: none");
    c = ok, c.augment = 0x40;
    expect_error(&pm, docs, 2, NULL, 0, &c, "augment: 0x40");
    expect_error(&pm, NULL, 0, NULL, 0, &ok, "documents: none, and no examples");
    const ed_chat_message_t q[] = {MSG(ED_CHAT_USER, "Hello?"), MSG(ED_CHAT_ASSISTANT, "Hi.")};
    const ed_dataset_example_t ex[] = {{q, 2}, {q, 1}};
    expect_error(&pm, docs, 2, ex, 2, &ok, "examples[1]: no assistant turn");
    ed_chat_message_t bad_role[] = {MSG(ED_CHAT_USER, "Hello?"), MSG(ED_CHAT_ASSISTANT, "Hi.")};
    bad_role[1].role = (ed_chat_role_t)7;
    const ed_dataset_example_t ex2[] = {{bad_role, 2}};
    expect_error(&pm, docs, 2, ex2, 1, &ok, "examples[0].messages[1].role: 7 is not a role");
    const ed_dataset_example_t empty[] = {{q, 0}};
    expect_error(&pm, docs, 2, empty, 1, &ok, "examples[0]: no messages");
    ed_dataset_doc_t dup[2] = {docs[0], docs[1]};
    dup[1].id = dup[0].id;
    expect_error(&pm, dup, 2, NULL, 0, &ok, "documents[1].id: 100 appears twice");
    ed_dataset_doc_t neg[2] = {docs[0], docs[1]};
    neg[0].id = -4;
    expect_error(&pm, neg, 2, NULL, 0, &ok, "documents[0].id: -4");
    const ed_dataset_chunk_t past = {.offset = 3, .len = 500};
    ed_dataset_doc_t chunked[2] = {docs[0], docs[1]};
    chunked[1].chunks = &past;
    chunked[1].n_chunks = 1;
    expect_error(&pm, chunked, 2, NULL, 0, &ok, "documents[1].chunks[0]: bytes 3..503 past the text");
    ed_dataset_doc_t blank[2] = {DOC(1, "A", "  \n\n "), DOC(2, "B", "")};
    expect_error(&pm, blank, 2, NULL, 0, &ok, "documents: 2, none with text to train on");
    expect_error(&pm, NULL, 0, ex, 1, &ok, "examples: one example and no documents");
}

ED_TEST(free_wipes_every_token_buffer)
{
    ed_prompt_model_t pm = open_model(true);
    ed_dataset_doc_t docs[6];
    make_notes(docs, 6);
    const ed_chat_message_t q[] = {MSG(ED_CHAT_USER, "Hello?"), MSG(ED_CHAT_ASSISTANT, "Hi.")};
    const ed_dataset_example_t ex[] = {{q, 2}};
    ed_dataset_config_t c = config(256, ED_AUG_PLAIN | ED_AUG_NO_TITLE | ED_AUG_SHUFFLED | ED_AUG_QA);
    char err[ED_ERR_LEN];
    ed_dataset_t *ds;
    ED_REQUIRE(ed_dataset_build(&ds, &pm, docs, 6, ex, 1, &c, err) == 0);
    n_watched = n_freed_clean = n_freed_dirty = 0;
    for (int i = 0; i < ds->n_train + ds->n_heldout; i++) {
        const ed_window_t *w = i < ds->n_train ? &ds->train[i] : &ds->heldout[i - ds->n_train];
        ED_REQUIRE(n_watched < WATCH_MAX);
        watched[n_watched] = w->tokens;
        watched_bytes[n_watched++] = 2 * (size_t)w->n * sizeof(int32_t);
    }
    int n = n_watched;
    ED_CHECK(n > 6 * 3);
    ed_dataset_free(ds);
    ED_CHECK_INT(n_freed_clean, n);
    ED_CHECK_INT(n_freed_dirty, 0);
    ed_dataset_free(NULL);
}

/* Packing keeps every window's tokens and targets, in the seeded order, as
 * segments of windows of at most seq_len tokens; train and held-out apart;
 * lineage and token counts unchanged; freed windows wiped. */
ED_TEST(packing_puts_short_windows_together_as_segments)
{
    ed_prompt_model_t pm = open_model(true);
    ed_dataset_doc_t docs[40];
    make_notes(docs, 40);
    const ed_chat_message_t q[] = {MSG(ED_CHAT_USER, "Hello?"), MSG(ED_CHAT_ASSISTANT, "Hi.")};
    const ed_dataset_example_t ex[] = {{q, 2}};
    ed_dataset_config_t c = config(64, ED_AUG_PLAIN | ED_AUG_QA);
    char err[ED_ERR_LEN];
    ed_dataset_t *apart, *packed;
    ED_REQUIRE(ed_dataset_build(&apart, &pm, docs, 40, ex, 1, &c, err) == 0);
    c.pack = true;
    n_watched = n_freed_clean = n_freed_dirty = 0;
    ED_REQUIRE(ed_dataset_build(&packed, &pm, docs, 40, ex, 1, &c, err) == 0);
    printf("# train %d windows -> %d, held-out %d -> %d\n", apart->n_train, packed->n_train, apart->n_heldout,
           packed->n_heldout);
    ED_CHECK(packed->n_train < apart->n_train / 2 && packed->n_heldout < apart->n_heldout);
    ED_CHECK(packed->train_tokens == apart->train_tokens && packed->heldout_tokens == apart->heldout_tokens);
    ED_REQUIRE(packed->n_train_docs == apart->n_train_docs && packed->n_heldout_docs == apart->n_heldout_docs);
    ED_CHECK(memcmp(packed->train_doc_ids, apart->train_doc_ids, (size_t)apart->n_train_docs * 8) == 0);
    for (int set = 0; set < 2; set++) {
        const ed_window_t *pw = set ? packed->heldout : packed->train, *aw = set ? apart->heldout : apart->train;
        int np = set ? packed->n_heldout : packed->n_train, na = set ? apart->n_heldout : apart->n_train, k = 0;
        bool several = false;
        for (int i = 0; i < np; i++) {
            const ed_window_t *w = &pw[i];
            ED_CHECK(w->n <= 64 && w->n_segments >= 1);
            several = several || w->n_segments > 1;
            int at = 0, targets = 0;
            for (int g = 0; g < w->n_segments && k < na; g++, k++) {
                int len = w->segment_len ? w->segment_len[g] : w->n;
                ED_REQUIRE(len == aw[k].n);
                ED_CHECK(memcmp(w->tokens + at, aw[k].tokens, (size_t)len * 4) == 0);
                ED_CHECK(memcmp(w->targets + at, aw[k].targets, (size_t)len * 4) == 0);
                ED_CHECK_INT(w->targets[at + len - 1], -1);
                at += len;
                targets += aw[k].n_targets;
            }
            ED_CHECK_INT(at, w->n);
            ED_CHECK_INT(targets, w->n_targets);
            /* the next window would not have fitted */
            ED_CHECK(i + 1 == np || w->n + aw[k].n > 64);
        }
        ED_CHECK_INT(k, na);
        ED_CHECK(several);
    }
    ed_dataset_free(apart);
    n_watched = n_freed_clean = n_freed_dirty = 0;
    for (int i = 0; i < packed->n_train + packed->n_heldout; i++) {
        const ed_window_t *w = i < packed->n_train ? &packed->train[i] : &packed->heldout[i - packed->n_train];
        ED_REQUIRE(n_watched < WATCH_MAX);
        watched[n_watched] = w->tokens;
        watched_bytes[n_watched++] = 2 * (size_t)w->n * sizeof(int32_t);
    }
    int n = n_watched;
    ed_dataset_free(packed);
    ED_CHECK_INT(n_freed_clean, n);
    ED_CHECK_INT(n_freed_dirty, 0);
}

ED_TEST_MAIN(plain_windows_are_the_tokens_of_title_then_text, chunks_carry_their_heading_as_ingest_embeds_them,
             a_long_piece_continues_over_windows, chat_examples_take_the_loss_on_assistant_turns_only_chatml,
             chat_examples_take_the_loss_on_assistant_turns_only_zephyr_spm,
             a_long_example_is_cut_from_the_left_keeping_its_last_answer, the_split_is_seeded_by_document_and_disjoint,
             one_document_is_split_by_piece, augmentations_add_what_they_say, bad_input_names_its_field,
             free_wipes_every_token_buffer, packing_puts_short_windows_together_as_segments)
