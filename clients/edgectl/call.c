/* call.c - edgectl's requests to the daemon: connecting, a JSON POST, and
 * the failure messages every command shares (which socket, systemctl, the
 * admin group, a model still loading, a full queue) with their exit statuses;
 * any JSON request; query-string escaping; text arguments read from the
 * command line or stdin. */
#include "call.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ed_ctl_client_failure(const char *socket_path, int rc, const char *err)
{
    fprintf(stderr, "edgectl: %s\n", err);
    switch (rc) {
    case ED_CLIENT_ENOENT:
    case ED_CLIENT_EACCES:
    case ED_CLIENT_EIO:
        if (rc == ED_CLIENT_EACCES)
            fprintf(stderr, "hint: the socket is for root and the edged group: "
                            "add yourself to it or use sudo\n");
        else
            fprintf(stderr, "hint: is edged running? Try 'systemctl status edged'; "
                            "another socket: --socket PATH or EDGED_SOCKET (this one: %s)\n",
                    socket_path);
        return ED_CTL_ECONNECT;
    case ED_CLIENT_ETIMEDOUT:
        fprintf(stderr, "hint: edged may be busy or stuck; a longer wait: --timeout SECONDS\n");
        return ED_CTL_ETIMEOUT;
    default:
        return ED_CTL_EPROTOCOL;
    }
}

int ed_ctl_answer_failure(const char *method, const char *path, const ed_client_response_t *resp)
{
    json_t *root = resp->body ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
    json_t *error = json_object_get(root, "error");
    const char *message = json_string_value(json_object_get(error, "message"));
    const char *code = json_string_value(json_object_get(error, "code"));
    if (message)
        fprintf(stderr, "edgectl: %s %s: %s (HTTP %d%s%s)\n", method, path, message, resp->status,
                code ? ", " : "", code ? code : "");
    else
        fprintf(stderr, "edgectl: %s %s: HTTP %d without an error message\n", method, path,
                resp->status);
    const char *retry = ed_client_response_header(resp, "Retry-After");
    if (resp->status == 403)
        fprintf(stderr, "hint: the daemon's [access] section decides who may call this; "
                        "try sudo or ask for membership of the allowed group\n");
    else if (resp->status == 404 && code && strcmp(code, "model_not_found") == 0)
        fprintf(stderr, "hint: leave --model out for the served model, or give a name "
                        "GET /v1/models lists\n");
    else if (resp->status == 503 && code && strcmp(code, "no_model") == 0)
        fprintf(stderr, "hint: name a GGUF file in the [model] section's path option of "
                        "edged's config and restart it\n");
    else if (resp->status == 503 && code && strcmp(code, "not_ready") == 0)
        fprintf(stderr, "hint: the model is not ready (loading, or it failed to load): "
                        "'edgectl health' says why\n");
    else if ((resp->status == 503 && code && strcmp(code, "queue_full") == 0) ||
             resp->status == 429)
        fprintf(stderr, "hint: edged is busy (every slot generating and the queue full); "
                        "try again%s%s%s\n",
                retry ? " in " : " shortly", retry ? retry : "", retry ? " s" : "");
    else if (resp->status == 503 && code && strcmp(code, "store_opening") == 0)
        fprintf(stderr, "hint: the personal store is still opening (after a change of embedder it "
                        "re-embeds every document); 'edgectl health' shows its progress\n");
    else if (resp->status == 503)
        fprintf(stderr, "hint: edged cannot serve this now; 'edgectl health' says whether it "
                        "is ready\n");
    json_decref(root);
    return ED_CTL_EANSWER;
}

json_t *ed_ctl_parse_object(const char *method, const char *path, const ed_client_response_t *resp)
{
    json_error_t error;
    json_t *root = json_loadb(resp->body ? resp->body : "", resp->body_len, 0, &error);
    if (!root || !json_is_object(root)) {
        fprintf(stderr, "edgectl: %s %s: the answer is not a JSON object (line %d, column %d: %s)\n",
                method, path, error.line, error.column, root ? "not an object" : error.text);
        json_decref(root);
        return NULL;
    }
    return root;
}

int ed_ctl_connect(const ed_ctl_t *ctl, ed_client_t **out)
{
    char err[ED_CLIENT_ERR_LEN];
    const char *socket_path = ed_client_default_socket(ctl->socket_path);
    int rc = ed_client_open(out, socket_path, ctl->timeout_ms, err);
    return rc == 0 ? ED_CTL_OK : ed_ctl_client_failure(socket_path, rc, err);
}

int ed_ctl_request_json(const ed_ctl_t *ctl, ed_client_t *client, const char *method, const char *path,
                        const ed_client_header_t *headers, size_t n_headers, const void *body, size_t len,
                        json_t **answer)
{
    *answer = NULL;
    char err[ED_CLIENT_ERR_LEN];
    ed_client_response_t resp = {0};
    int status = ED_CTL_OK;
    int rc = ed_client_request(client, method, path, headers, n_headers, body, len, &resp, err);
    if (rc != 0)
        status = ed_ctl_client_failure(ed_client_socket(client), rc, err);
    else if (resp.status < 200 || resp.status > 299)
        status = ed_ctl_answer_failure(method, path, &resp);
    else if (!(*answer = ed_ctl_parse_object(method, path, &resp)))
        status = ED_CTL_EPROTOCOL;
    else if (ctl->json)
        printf("%.*s%s", (int)resp.body_len, resp.body,
               resp.body_len && resp.body[resp.body_len - 1] == '\n' ? "" : "\n");
    ed_client_response_free(&resp);
    return status;
}

int ed_ctl_post_json(const ed_ctl_t *ctl, ed_client_t *client, const char *path,
                     const json_t *request, json_t **answer)
{
    *answer = NULL;
    char *body = json_dumps(request, JSON_COMPACT);
    if (!body) {
        fprintf(stderr, "edgectl: out of memory\n");
        return ED_CTL_EPROTOCOL;
    }
    static const ed_client_header_t json_type = {"Content-Type", "application/json"};
    int status = ed_ctl_request_json(ctl, client, "POST", path, &json_type, 1, body, strlen(body), answer);
    free(body);
    return status;
}

bool ed_ctl_query_escape(char *out, size_t cap, size_t *len, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = *len;
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        bool keep = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                    *p == '-' || *p == '_' || *p == '.' || *p == '~';
        if (n + (keep ? 1 : 3) >= cap)
            return false;
        if (keep) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    out[n] = '\0';
    *len = n;
    return true;
}

json_t *ed_ctl_text_arg(const char *cmd, const char *arg)
{
    char *text = NULL;
    size_t len = 0;
    if (strcmp(arg, "-") == 0) {
        FILE *all = open_memstream(&text, &len);
        char buf[4096];
        size_t n;
        while (all && (n = fread(buf, 1, sizeof buf, stdin)) > 0)
            fwrite(buf, 1, n, all);
        if (!all || fclose(all) != 0 || ferror(stdin)) {
            fprintf(stderr, "edgectl: %s: cannot read stdin\n", cmd);
            free(text);
            return NULL;
        }
    }
    json_t *string = text ? json_stringn(text, len) : json_string(arg);
    free(text);
    if (!string)
        fprintf(stderr, "edgectl: %s: the text is not valid UTF-8\n", cmd);
    return string;
}
