/* adapter.c - adapters shared between the registry and the jobs that use
 * them (engine.h, ed_engine_adapter_t): a LoRA adapter with a label and an
 * atomic reference count, freed by whoever drops the last reference, so an
 * adapter deleted while a stream uses it lives until that stream ends. */
#include "engine/engine.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static _Atomic uint64_t next_serial = 1;

struct ed_engine_adapter {
    _Atomic int refs;
    uint64_t serial; /* unique for the process: a slot's cache remembers it, not an address that may be reused */
    ed_lora_t *lora;
    char label[160];
};

ed_engine_adapter_t *ed_engine_adapter_new(ed_lora_t *lora, const char *label)
{
    ed_engine_adapter_t *a = calloc(1, sizeof *a);
    if (!a) {
        ed_lora_free(lora);
        return NULL;
    }
    atomic_init(&a->refs, 1);
    a->serial = atomic_fetch_add_explicit(&next_serial, 1, memory_order_relaxed);
    a->lora = lora;
    snprintf(a->label, sizeof a->label, "%s", label ? label : "");
    return a;
}

void ed_engine_adapter_retain(ed_engine_adapter_t *a)
{
    atomic_fetch_add_explicit(&a->refs, 1, memory_order_relaxed);
}

void ed_engine_adapter_release(ed_engine_adapter_t *a)
{
    if (!a || atomic_fetch_sub_explicit(&a->refs, 1, memory_order_acq_rel) != 1)
        return;
    ed_lora_free(a->lora);
    free(a);
}

const ed_lora_t *ed_engine_adapter_lora(const ed_engine_adapter_t *a)
{
    return a->lora;
}

const char *ed_engine_adapter_label(const ed_engine_adapter_t *a)
{
    return a->label;
}

uint64_t ed_engine_adapter_serial(const ed_engine_adapter_t *a)
{
    return a ? a->serial : 0;
}
