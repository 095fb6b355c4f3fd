/* dispatch.c - builds the op tables this CPU can run (once, on first use) and
 * picks one: forced by name, by the environment variable EDGED_KERNELS, or
 * the best the CPU features allow. */
#include "kernels/dispatch.h"
#include "kernels/cpu.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { TABLE_REF, TABLE_AVX2, TABLE_AVX512, TABLE_NEON, TABLE_NEON_DOTPROD, TABLE_COUNT };

static const char *const table_names[TABLE_COUNT + 1] = {
    "ref", "avx2", "avx512", "neon", "neon-dotprod", NULL,
};

static ed_kernels_t tables[TABLE_COUNT];
static int table_ok[TABLE_COUNT]; /* 1: this CPU runs tables[i] */
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void build_tables(void)
{
    const ed_cpu_t *cpu = ed_cpu_features();
    (void)cpu;
    ed__kernels_fill_ref(&tables[TABLE_REF]);
    table_ok[TABLE_REF] = 1;
#if defined(__x86_64__)
    if (cpu->avx2 && cpu->fma && cpu->f16c) {
        ed__kernels_fill_avx2(&tables[TABLE_AVX2]);
        table_ok[TABLE_AVX2] = 1;
        if (cpu->avx512f && cpu->avx512bw && cpu->avx512vl && cpu->avx512dq && cpu->avx512vnni) {
            ed_kernels_t *k = &tables[TABLE_AVX512];
            ed__kernels_fill_avx2(k);
            ed_vec_dot_table_avx512(k->vec_dot);
            ed__gemm_table_avx512(k->gemm);
            ed__kernels_fill_avx512_backward(k);
            table_ok[TABLE_AVX512] = 1;
        }
    }
#endif
#if defined(__aarch64__)
    if (cpu->neon) {
        ed__kernels_fill_neon(&tables[TABLE_NEON]);
        table_ok[TABLE_NEON] = 1;
        if (cpu->dotprod && cpu->fp16) {
            ed_kernels_t *k = &tables[TABLE_NEON_DOTPROD];
            ed__kernels_fill_neon(k);
            ed_vec_dot_table_neon_dotprod(k->vec_dot);
            ed__gemm_table_neon_dotprod(k->gemm);
            table_ok[TABLE_NEON_DOTPROD] = 1;
        }
    }
#endif
    for (int i = 0; i < TABLE_COUNT; i++)
        tables[i].name = table_names[i];
}

const ed_kernels_t *ed_kernels_by_name(const char *name)
{
    pthread_once(&tables_once, build_tables);
    for (int i = 0; name && i < TABLE_COUNT; i++)
        if (strcmp(name, table_names[i]) == 0)
            return table_ok[i] ? &tables[i] : NULL;
    return NULL;
}

const ed_kernels_t *ed_kernels_select(const char *force)
{
    if (!force || !*force)
        force = getenv("EDGED_KERNELS");
    if (force && *force)
        return ed_kernels_by_name(force);
    pthread_once(&tables_once, build_tables);
    for (int i = TABLE_COUNT - 1; i >= 0; i--)
        if (table_ok[i])
            return &tables[i];
    return &tables[TABLE_REF];
}

const char *const *ed_kernels_names(void)
{
    return table_names;
}
