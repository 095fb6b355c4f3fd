/* ctl.h - what edgectl's commands share: the global options and the exit
 * statuses (documented in `edgectl --help`). Each command is a function
 * taking the options and its own arguments and returning an exit status. */
#ifndef ED_EDGECTL_CTL_H
#define ED_EDGECTL_CTL_H

#include <stdbool.h>

enum {
    ED_CTL_OK = 0,        /* success */
    ED_CTL_EANSWER = 1,   /* the daemon (or a download server) answered with an error */
    ED_CTL_EUSAGE = 2,    /* bad command line */
    ED_CTL_ECONNECT = 3,  /* cannot connect to the daemon's socket / reach the host */
    ED_CTL_ETIMEOUT = 4,  /* no answer within --timeout */
    ED_CTL_EPROTOCOL = 5, /* an answer edgectl cannot understand, or a lost connection */
    ED_CTL_EDOWNLOAD = 6, /* pull: the transfer failed or the file could not be written */
    ED_CTL_EVERIFY = 7,   /* pull: checksum mismatch or not a valid GGUF file */
};

typedef struct {
    const char *socket_path; /* --socket, or NULL for $EDGED_SOCKET / the default */
    bool json;               /* --json: print the daemon's JSON as is */
    int timeout_ms;          /* --timeout, milliseconds */
} ed_ctl_t;

#endif
