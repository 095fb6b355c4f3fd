/* tests/fuzz/adapt_jsonl.c - libFuzzer driver for the training-data JSONL
 * reader (adapt/dataset_source): any input is parsed; a failure must be
 * ED_EINVAL with a message naming the input, a success must hold only
 * well-formed records (documents with text and a name, examples with at
 * least one assistant turn and known roles, within the documented bounds).
 * Seeds: tests/fuzz/corpus/adapt_jsonl. */
#include "adapt/dataset_source.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[ED_ERR_LEN] = "";
    ed_dataset_source_t *s = NULL;
    int rc = ed_dataset_source_jsonl_parse(&s, "fuzz.jsonl", (const char *)data, size, err);
    if (rc != 0) {
        if (rc != ED_EINVAL || s != NULL || strncmp(err, "fuzz.jsonl", 10) != 0)
            abort();
        return 0;
    }
    if (!s || s->n_docs + s->n_examples == 0 || s->n_docs + s->n_examples > ED_DATASET_RECORDS_MAX)
        abort();
    for (int i = 0; i < s->n_docs; i++) {
        const ed_dataset_doc_t *d = &s->docs[i];
        if (!d->title || !d->text || !s->doc_names[i] || d->id != i || d->chunks || d->text_len > size)
            abort();
    }
    for (int i = 0; i < s->n_examples; i++) {
        const ed_dataset_example_t *e = &s->examples[i];
        if (e->n_messages == 0 || e->n_messages > ED_DATASET_MESSAGES_MAX)
            abort();
        int assistant = 0;
        for (size_t m = 0; m < e->n_messages; m++) {
            if ((unsigned)e->messages[m].role > ED_CHAT_ASSISTANT || !e->messages[m].content ||
                e->messages[m].len > size)
                abort();
            assistant |= e->messages[m].role == ED_CHAT_ASSISTANT;
        }
        if (!assistant)
            abort();
    }
    ed_dataset_source_free(s);
    return 0;
}
