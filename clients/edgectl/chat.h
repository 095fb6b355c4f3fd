/* chat.h - `edgectl chat`: an interactive conversation with the model. Reads
 * one message per line from stdin (a terminal or a pipe), streams each answer
 * as it is generated and keeps the conversation for the next turn. */
#ifndef ED_EDGECTL_CHAT_H
#define ED_EDGECTL_CHAT_H

#include "ctl.h"
#include "generate.h"

#define ED_CTL_CHAT_USAGE                                                                      \
    "usage: edgectl [OPTIONS] chat [--system TEXT] [--temp T] [--max-tokens N] [--seed S]\n"   \
    "                              [--model NAME] [--adapter A] [--rag COLLECTION] [--no-stream]\n" \
    "                              [--verbose] [--json]\n"                                     \
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
    "  --model NAME        a name GET /v1/models lists (default: the served model)\n"         \
    "  --adapter A         answer with LoRA adapter A: a name, NAME@VERSION, an id or none\n"  \
    "                      (default: the daemon's active adapter; see edgectl adapters)\n"   \
    "  --rag COLLECTION    answer with notes retrieved from that collection of the\n"          \
    "                      personal store (repeatable); the notes cited are listed after\n"   \
    "                      each answer as [n] title (document, chunk)\n"                       \
    "  --no-stream         wait for each whole answer instead of streaming it\n"               \
    ED_CTL_VERBOSE_USAGE                                                                       \
    "  --json              print the daemon's JSON chunks (or answers) instead of text\n"      \
    "An error answer (e.g. 404 for an unknown --model, 400 when the conversation outgrows\n"  \
    "the context, 503 when the model is not ready or the queue is full) is printed and\n"    \
    "that message is dropped; the chat goes on and exits with status 1 at the end.\n"

int ed_ctl_chat(const ed_ctl_t *ctl, int argc, char **argv);

#endif
