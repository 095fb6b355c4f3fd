/* dataset_source.h - where training data comes from: the documents of a
 * store's collections (their text unsealed, their chunks as ingest cut
 * them), a folder of text files, or a JSONL file of documents and chat
 * examples. A source owns the documents and examples it hands out (the
 * arrays ed_dataset_build borrows) and wipes every byte of their text when
 * freed. Turning them into windows is dataset.h's. */
#ifndef ED_ADAPT_DATASET_SOURCE_H
#define ED_ADAPT_DATASET_SOURCE_H

#include "adapt/dataset.h"
#include "core/error.h"
#include "store/store.h"

#include <stddef.h>

/* Bounds of what a source reads (larger input is ED_EINVAL naming it). */
#define ED_DATASET_LINE_MAX ((size_t)1 << 20)   /* bytes of one JSONL line */
#define ED_DATASET_RECORDS_MAX 100000           /* documents plus examples of one source */
#define ED_DATASET_MESSAGES_MAX 256             /* messages of one example */
#define ED_DATASET_FILE_MAX ((size_t)64 << 20)  /* bytes of one file (a folder's file or the JSONL) */

typedef struct ed__dataset_mem ed__dataset_mem_t;

typedef struct {
    ed_dataset_doc_t *docs;         /* (n_docs) owned; ids: the store's, else 0, 1, 2 ... in file order */
    int n_docs;
    ed_dataset_example_t *examples; /* (n_examples) owned */
    int n_examples;
    const char **doc_names;         /* (n_docs) where each came from: "collection/ID", a file name, a
                                       JSONL line's "id" (or "NAME:LINE") */
    ed__dataset_mem_t *mem;         /* every allocation holding text, wiped on free */
} ed_dataset_source_t;

/* The documents of collections[0, n) of `store`, by id, each collection
 * once, with their text and chunks (offsets and heading context). An
 * unknown collection is ED_ENOENT ("collections[1]: no collection 'x'");
 * no collections or no documents in them ED_EINVAL ("collections: no
 * documents to train on"); a record that does not unseal ED_ECORRUPT. */
int ed_dataset_source_store(ed_dataset_source_t **out, ed_store_t *store, const char *const *collections, int n,
                            char err[ED_ERR_LEN]);

/* The .txt and .md files directly in `dir` (not hidden, regular files or
 * links to them), in name order; a document each, without chunks (the
 * dataset cuts it by paragraphs). Title: the first markdown heading ("# x"
 * to "###### x") of a .md file, whose line leaves the text when it is the
 * first line that is not blank; else the file name without its extension.
 * ED_ENOENT / ED_EACCES for the folder, ED_EINVAL for no such files or a
 * file past ED_DATASET_FILE_MAX. */
int ed_dataset_source_folder(ed_dataset_source_t **out, const char *dir, char err[ED_ERR_LEN]);

/* A JSONL file: one object a line, blank lines skipped, either an example
 * {"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}
 * (at least one assistant turn) or a document {"title": "...", "text": "..."}
 * ("title" optional; an optional "id", a string or an integer, names it;
 * other keys are ignored). Errors name the file, line and field
 * ("examples.jsonl:3: messages[1].role: 'bot' is not a role"), ED_EINVAL. */
int ed_dataset_source_jsonl(ed_dataset_source_t **out, const char *path, char err[ED_ERR_LEN]);
/* The same over data[0, len), errors naming `name`. */
int ed_dataset_source_jsonl_parse(ed_dataset_source_t **out, const char *name, const char *data, size_t len,
                                  char err[ED_ERR_LEN]);

/* Wipes every text byte (explicit_bzero) and frees. Accepts NULL. */
void ed_dataset_source_free(ed_dataset_source_t *src);

#endif
