/* cpu.h - CPU feature detection: cpuid/xgetbv on x86_64, getauxval(AT_HWCAP)
 * on aarch64. Detected once; dispatch.c turns the features into an op table. */
#ifndef ED_KERNELS_CPU_H
#define ED_KERNELS_CPU_H

typedef struct {
    /* x86_64 (each also requires the OS to save the registers, per xgetbv) */
    int avx2, fma, f16c;
    int avx512f, avx512bw, avx512vl, avx512dq, avx512vnni;
    /* aarch64 */
    int neon;    /* Advanced SIMD (always on aarch64) */
    int dotprod; /* SDOT/UDOT (Armv8.2 dotprod: Pi 5's Cortex-A76, not Pi 4's A72) */
    int fp16;    /* half-precision arithmetic */
} ed_cpu_t;

/* The features of the CPU this process runs on; detected on first call. */
const ed_cpu_t *ed_cpu_features(void);

#endif
