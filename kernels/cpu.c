/* cpu.c - fills ed_cpu_t from cpuid and xgetbv (x86_64) or getauxval
 * (aarch64); every other architecture reports no features (reference only). */
#include "kernels/cpu.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>

static unsigned long long xgetbv0(void)
{
    unsigned eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

static void detect(ed_cpu_t *cpu)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return;
    int osxsave = (c >> 27) & 1;
    int fma = (c >> 12) & 1, f16c = (c >> 29) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx)
        return;
    unsigned long long xcr0 = xgetbv0();
    int ymm_ok = (xcr0 & 0x6) == 0x6;     /* XMM and YMM state */
    int zmm_ok = (xcr0 & 0xe6) == 0xe6;   /* plus opmask and ZMM state */
    if (!ymm_ok || __get_cpuid_max(0, NULL) < 7)
        return;
    __cpuid_count(7, 0, a, b, c, d);
    cpu->avx2 = (b >> 5) & 1;
    cpu->fma = fma;
    cpu->f16c = f16c;
    if (zmm_ok) {
        cpu->avx512f = (b >> 16) & 1;
        cpu->avx512dq = (b >> 17) & 1;
        cpu->avx512bw = (b >> 30) & 1;
        cpu->avx512vl = (b >> 31) & 1;
        cpu->avx512vnni = (c >> 11) & 1;
    }
}
#elif defined(__aarch64__)
#include <sys/auxv.h>

#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1 << 1)
#endif
#ifndef HWCAP_ASIMDHP
#define HWCAP_ASIMDHP (1 << 10)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif

static void detect(ed_cpu_t *cpu)
{
    unsigned long hwcap = getauxval(AT_HWCAP);
    cpu->neon = (hwcap & HWCAP_ASIMD) != 0;
    cpu->fp16 = (hwcap & HWCAP_ASIMDHP) != 0;
    cpu->dotprod = (hwcap & HWCAP_ASIMDDP) != 0;
}
#else
static void detect(ed_cpu_t *cpu)
{
    (void)cpu;
}
#endif

static ed_cpu_t cpu_features;
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;

static void cpu_detect_once(void)
{
    memset(&cpu_features, 0, sizeof cpu_features);
    detect(&cpu_features);
}

const ed_cpu_t *ed_cpu_features(void)
{
    pthread_once(&cpu_once, cpu_detect_once);
    return &cpu_features;
}
