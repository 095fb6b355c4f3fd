/* dataset.h - training data for LoRA: documents (title, text, and the
 * chunks with their heading context as ingest made them) become token
 * windows of at most seq_len tokens, title and heading context first;
 * question-and-answer examples in chat form become windows with the loss on
 * the assistant's tokens only, rendered by model/prompt exactly as
 * inference renders them. Documents are split deterministically into train
 * and held-out sets (a fraction, at least one document; with one document,
 * by chunk). Optional augmentations render each note several ways. All of it
 * lives in memory only and is wiped when freed: personal text never reaches
 * the disk from here. Where the documents come from (a store's collections,
 * a folder of text files, JSONL) is dataset_source.h's. */
#ifndef ED_ADAPT_DATASET_H
#define ED_ADAPT_DATASET_H

#include "core/error.h"
#include "model/chat.h"
#include "model/prompt.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A stretch of a document's text that ingest embedded as one chunk. */
typedef struct {
    size_t offset, len;                 /* into the document's text */
    size_t context_offset, context_len; /* its heading, in the text (len 0: none) */
} ed_dataset_chunk_t;

/* One document (borrowed by ed_dataset_build). */
typedef struct {
    int64_t id;                       /* the store's document id (lineage), or the source's own index */
    const char *title;                /* NUL-terminated; "" when none */
    const char *text;                 /* text[0, text_len) */
    size_t text_len;
    const ed_dataset_chunk_t *chunks; /* n_chunks of them in text order; NULL: the dataset splits
                                         the text by paragraphs itself */
    int n_chunks;
} ed_dataset_doc_t;

/* One question-and-answer example: a conversation whose assistant turns
 * carry the loss (borrowed). */
typedef struct {
    const ed_chat_message_t *messages;
    size_t n_messages; /* at least one assistant turn */
} ed_dataset_example_t;

/* Augmentations: each adds windows rendering every train document (or
 * chunk) another way; ED_AUG_PLAIN is the text as ingest embeds it. */
enum {
    ED_AUG_PLAIN = 1u << 0,     /* title and heading context, then the text */
    ED_AUG_NO_TITLE = 1u << 1,  /* the text alone */
    ED_AUG_SHUFFLED = 1u << 2,  /* title first, then the sentences in a seeded random order */
    ED_AUG_QA = 1u << 3,        /* a chat turn: "What do my notes say about TITLE?" answered by the text */
};

typedef struct {
    int seq_len;             /* tokens a window holds at most (the trainer's) */
    double heldout_fraction; /* of documents held out, 0 < f < 1 (0.1 by default) */
    uint64_t seed;           /* the split and the augmentations' shuffles */
    unsigned augment;        /* ED_AUG_* bits; ED_AUG_PLAIN by default */
    bool pack;               /* true by default: short pieces share a window as segments (below) */
} ed_dataset_config_t;

void ed_dataset_config_default(ed_dataset_config_t *c);

/* One window: tokens[0, n) and their targets (the next token, or -1 where
 * no loss is taken: the prompt part of a chat example, padding). A packed
 * window holds several sequences (pieces, examples) one after another as
 * segments: each is trained as if it were a window of its own (its own
 * positions and attention: ed_trainer_accumulate_packed), and the last
 * token of each has no target. */
typedef struct {
    int32_t *tokens;  /* (n) */
    int32_t *targets; /* (n) */
    int n;            /* 1 .. seq_len */
    int n_targets;    /* targets >= 0 */
    int64_t doc_id;   /* the document it (its first segment) came from; -1: an example */
    int n_segments;   /* 1 (segment_len NULL: one segment of n) or more */
    int *segment_len; /* (n_segments) summing to n; NULL: one segment */
} ed_window_t;

typedef struct {
    ed_window_t *train;      /* (n_train) in a seeded order */
    int n_train;
    ed_window_t *heldout;    /* (n_heldout) never trained on */
    int n_heldout;
    int64_t *train_doc_ids;  /* (n_train_docs) the documents train windows came from (lineage) */
    int n_train_docs;
    int64_t *heldout_doc_ids; /* (n_heldout_docs) */
    int n_heldout_docs;
    int64_t train_tokens;    /* targets >= 0 over the train windows */
    int64_t heldout_tokens;
} ed_dataset_t;

/* Builds the windows of docs[0, n_docs) and examples[0, n_examples) for the
 * tokenizer and chat format of `prompt`. Examples go to train, except that
 * with no documents a fraction of them is held out the same way. Returns 0,
 * or ED_EINVAL with err naming what is wrong ("documents: none, and no
 * examples"; "examples[3]: no assistant turn"; "heldout_fraction: 1.5,
 * expected above 0 and below 1"; "seq_len: ..."), ED_ENOMEM.
 * Choices (dataset.c says more): a piece is "TITLE\nCONTEXT\nTEXT" then
 * <|endoftext|> (else EOS); one longer than seq_len continues in the next
 * window, which repeats the previous window's last token (each next-token
 * pair is a target once); an example longer than seq_len is cut from the
 * left while its last assistant turn fits, else refused naming it; with
 * one document of one piece (or one example and no documents) nothing can
 * be held out: ED_EINVAL. With config->pack, after the seeded order, the
 * train windows are packed greedily in that order (a window takes the next
 * ones while they fit in seq_len tokens), the held-out windows likewise in
 * theirs; train and held-out never share a window. Lineage (the doc ids)
 * counts every segment. */
int ed_dataset_build(ed_dataset_t **out, const ed_prompt_model_t *prompt, const ed_dataset_doc_t *docs, int n_docs,
                     const ed_dataset_example_t *examples, int n_examples, const ed_dataset_config_t *config,
                     char err[ED_ERR_LEN]);
/* Wipes every token buffer (explicit_bzero) and frees. Accepts NULL. */
void ed_dataset_free(ed_dataset_t *ds);

#endif
