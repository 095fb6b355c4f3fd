/* train.h - `edged train`: trains a LoRA adapter over a base model offline
 * from a JSONL file, a folder of text files or a state directory's
 * collections (adapt/), with sealed checkpoints and resume, a progress line,
 * the loss curves as CSV and SVG, and the adapter written as a plain GGUF
 * (-o) and/or sealed into the state directory's registry with lineage. */
#ifndef ED_CLI_TRAIN_H
#define ED_CLI_TRAIN_H

/* argv[0] is "train"; returns 0 (trained), 1 (a failure or a stop) or 2 (bad arguments or data). */
int ed_train_main(int argc, char **argv);

#endif
