/* peer.c - SO_PEERCRED and allow lists (see peer.h). */
#include "http/peer.h"
#include "core/error.h"
#include "core/log.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int ed_peer_read(int fd, ed_peer_t *out)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    memset(out, 0, sizeof *out);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        return ed_err_from_errno(errno);
    out->pid = cred.pid;
    out->uid = cred.uid;
    out->gid = cred.gid;
    out->known = true;
    return 0;
}

static bool parse_id(const char *s, unsigned long *out)
{
    if (*s < '0' || *s > '9')
        return false;
    char *end;
    errno = 0;
    *out = strtoul(s, &end, 10);
    return errno == 0 && *end == '\0';
}

int ed_acl_compile(ed_acl_t *acl, const char *text, const char *what)
{
    memset(acl, 0, sizeof *acl);
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", text);
    char *save = NULL;
    for (char *tok = strtok_r(copy, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save)) {
        unsigned long id;
        if (strcmp(tok, "*") == 0) {
            acl->anyone = true;
        } else if (strncmp(tok, "user:", 5) == 0) {
            const char *name = tok + 5;
            if (!parse_id(name, &id)) {
                struct passwd pw, *found = NULL;
                char buf[4096];
                if (getpwnam_r(name, &pw, buf, sizeof buf, &found) != 0 || !found) {
                    ed_log_warn("%s: user \"%s\" does not exist; entry ignored", what, name);
                    continue;
                }
                id = found->pw_uid;
            }
            if (acl->n_uids == ED_ACL_MAX)
                return ED_ERANGE;
            acl->uids[acl->n_uids++] = (uid_t)id;
        } else if (strncmp(tok, "group:", 6) == 0) {
            const char *name = tok + 6;
            if (!parse_id(name, &id)) {
                struct group gr, *found = NULL;
                char buf[16384];
                if (getgrnam_r(name, &gr, buf, sizeof buf, &found) != 0 || !found) {
                    ed_log_warn("%s: group \"%s\" does not exist; entry ignored", what, name);
                    continue;
                }
                id = found->gr_gid;
            }
            if (acl->n_gids == ED_ACL_MAX)
                return ED_ERANGE;
            acl->gids[acl->n_gids++] = (gid_t)id;
        }
    }
    return 0;
}

static bool gid_listed(const ed_acl_t *acl, gid_t gid)
{
    for (int i = 0; i < acl->n_gids; i++)
        if (acl->gids[i] == gid)
            return true;
    return false;
}

bool ed_acl_allows(const ed_acl_t *acl, const ed_peer_t *peer)
{
    if (!peer->known)
        return false;
    if (acl->anyone)
        return true;
    for (int i = 0; i < acl->n_uids; i++)
        if (acl->uids[i] == peer->uid)
            return true;
    if (acl->n_gids == 0)
        return false;
    if (gid_listed(acl, peer->gid))
        return true;
    /* Supplementary groups of the peer's user, as the system database lists them. */
    struct passwd pw, *found = NULL;
    char buf[4096];
    if (getpwuid_r(peer->uid, &pw, buf, sizeof buf, &found) != 0 || !found)
        return false;
    gid_t groups[256];
    int n = 256;
    if (getgrouplist(found->pw_name, found->pw_gid, groups, &n) < 0)
        n = 256; /* truncated: check what fits */
    for (int i = 0; i < n; i++)
        if (gid_listed(acl, groups[i]))
            return true;
    return false;
}

const char *ed_group_name(ed_group_t group)
{
    static const char *const names[ED_GROUP_COUNT] = {"none", "infer", "ingest", "adapt", "admin"};
    return group < ED_GROUP_COUNT ? names[group] : "?";
}
