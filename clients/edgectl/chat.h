/* chat.h - `edgectl chat`: an interactive conversation with the model. Reads
 * one message per line from stdin (a terminal or a pipe), streams each answer
 * as it is generated and keeps the conversation for the next turn. */
#ifndef ED_EDGECTL_CHAT_H
#define ED_EDGECTL_CHAT_H

#include "ctl.h"

#define ED_CTL_CHAT_USAGE                                                                      \
    "usage: edgectl [OPTIONS] chat [--system TEXT] [--temp T] [--max-tokens N] [--seed S]\n"   \
    "                              [--rag COLLECTION] [--no-stream] [--verbose] [--json]\n"    \
    "POST /v1/chat/completions: a conversation. Each line read from stdin is one user\n"       \
    "message; the answer is printed as it is generated, and the conversation so far is\n"      \
    "sent with every message. Lines that are commands:\n"                                       \
    "  /reset   forget the conversation (the --system message stays)\n"                         \
    "  /exit    end (so does end of input, Ctrl-D)\n"                                            \
    "Ctrl-C stops the answer being generated. Works the same with stdin from a pipe.\n"       \
    "  --system TEXT       a system message that opens the conversation\n"                     \
    "  --temp T            sampling temperature (0: greedy; default: the daemon's)\n"          \
    "  -n, --max-tokens N  at most N tokens per answer (default: the daemon's)\n"              \
    "  --seed S            sampler seed (the same for every answer)\n"                         \
    "  --rag COLLECTION    answer with notes retrieved from that collection of the\n"          \
    "                      personal store (repeatable); the notes cited are listed after\n"   \
    "                      each answer as [n] title (document, chunk)\n"                       \
    "  --no-stream         wait for each whole answer instead of streaming it\n"               \
    "  --verbose           after each answer: prompt and generated token counts, finish\n"     \
    "                      reason, time to first token and tokens/s (on stderr)\n"             \
    "  --json              print the daemon's JSON chunks (or answers) instead of text\n"      \
    "An error answer (e.g. 400 when the conversation outgrows the context, 503 when the\n"    \
    "model is not ready or the queue is full) is printed and that message is dropped; the\n"  \
    "chat goes on and exits with status 1 at the end.\n"

int ed_ctl_chat(const ed_ctl_t *ctl, int argc, char **argv);

#endif
