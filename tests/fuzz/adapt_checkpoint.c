/* tests/fuzz/adapt_checkpoint.c - libFuzzer driver for the training
 * checkpoint parser (adapt/run.c) through ed_run_checkpoint_info: whatever
 * the bytes, it must not read out of bounds, and a refusal explains itself
 * while an accepted checkpoint has sane counters (built with ED_FUZZING, the
 * parser skips the checksum so that mutations reach the lengths). Seeds:
 * tests/fuzz/corpus/adapt_checkpoint (checkpoints of tests/unit/adapt/run.c's
 * tiny model, written with ED_TEST_CHECKPOINT_OUT set; small.ckpt by hand). */
#include "adapt/run.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy of exactly size bytes, so that ASan sees any read past the end */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    ed_run_checkpoint_info_t info;
    char err[ED_ERR_LEN] = "";
    int rc = ed_run_checkpoint_info(copy, size, &info, err);
    if (rc != 0 && (!err[0] || rc != ED_EINVAL))
        abort(); /* a refusal always explains itself */
    if (rc == 0 && (info.steps < 0 || info.n_history < 0 || info.n_history > info.steps || info.best_step > info.steps))
        abort();
    free(copy);
    return 0;
}
