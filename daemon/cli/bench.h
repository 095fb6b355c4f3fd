/* bench.h - `edged bench`: prompt-processing and generation speed of a GGUF
 * model (tokens/s, mean and standard deviation over repetitions), set
 * against the memory-bandwidth bound on generation, with the peak resident
 * memory; a table like llama-bench's, or JSON lines. */
#ifndef ED_CLI_BENCH_H
#define ED_CLI_BENCH_H

/* `edged bench ...` (argv[0] is "bench"). Returns the exit status: 0, 1 (a
 * bad model file or a failed evaluation), 2 (bad arguments). */
int ed_bench_main(int argc, char **argv);

#endif
