/* call.h - how edgectl's commands talk to the daemon: connecting, one JSON
 * POST, and turning what went wrong (no socket, a timeout, an error answer
 * such as 503 while the model loads) into a message, a hint and an exit
 * status; text arguments ('-' for stdin). The streaming generation call is
 * generate.h's. */
#ifndef ED_EDGECTL_CALL_H
#define ED_EDGECTL_CALL_H

#include "ctl.h"

#include "edgeclient.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Connects to the daemon's socket: ED_CTL_OK with *out, or the exit status
 * of the failure (printed). */
int ed_ctl_connect(const ed_ctl_t *ctl, ed_client_t **out);

/* Prints a libedgeclient failure (`rc`, `err`) with a hint and returns its
 * exit status (ED_CTL_ECONNECT, ED_CTL_ETIMEOUT or ED_CTL_EPROTOCOL). */
int ed_ctl_client_failure(const char *socket_path, int rc, const char *err);

/* Prints an error answer to `method` `path`: the message of its
 * {"error": {...}} body, the status and code, and a hint for 403 and 503
 * (no model configured, the model not ready, or every slot busy and the
 * queue full). Returns ED_CTL_EANSWER. */
int ed_ctl_answer_failure(const char *method, const char *path, const ed_client_response_t *resp);

/* Parses a JSON object answer; NULL after printing why it is not one. */
json_t *ed_ctl_parse_object(const char *method, const char *path, const ed_client_response_t *resp);

/* POSTs `request` (a JSON object) to `path` on `client` and parses the JSON
 * object that answers it into *answer (the caller's reference). With
 * ctl->json the answer is printed as it came. Returns ED_CTL_OK or an exit
 * status (printed). */
int ed_ctl_post_json(const ed_ctl_t *ctl, ed_client_t *client, const char *path,
                     const json_t *request, json_t **answer);

/* Sends `method` `path` with a body (may be NULL) on `client` and parses
 * the JSON object of a 2xx answer into *answer (the caller's reference);
 * with ctl->json the answer is printed as it came. An error answer is
 * printed as ed_ctl_answer_failure does; a failure to talk to the daemon as
 * ed_ctl_client_failure. Returns ED_CTL_OK or that exit status. */
int ed_ctl_request_json(const ed_ctl_t *ctl, ed_client_t *client, const char *method, const char *path,
                        const ed_client_header_t *headers, size_t n_headers, const void *body, size_t len,
                        json_t **answer);

/* Appends `value` percent-encoded for a query string (RFC 3986 unreserved
 * characters kept) to out[0, cap) at *len; false when it does not fit. */
bool ed_ctl_query_escape(char *out, size_t cap, size_t *len, const char *value);

/* A text argument as a JSON string: `arg` itself, or all of stdin for "-".
 * NULL after printing "edgectl: CMD: ..." when it is not UTF-8 text. */
json_t *ed_ctl_text_arg(const char *cmd, const char *arg);

#endif
