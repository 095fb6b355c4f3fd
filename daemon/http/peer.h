/* peer.h - who is on the other end of a Unix-socket connection
 * (SO_PEERCRED) and the allow lists that say which endpoint groups a peer
 * may use. Allow lists are compiled from the config's text ("*",
 * "user:NAME|UID", "group:NAME|GID"); names are resolved when compiled. */
#ifndef ED_HTTP_PEER_H
#define ED_HTTP_PEER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct {
    pid_t pid;
    uid_t uid;
    gid_t gid;
    bool known; /* false when SO_PEERCRED failed (the peer is then refused everywhere) */
} ed_peer_t;

typedef enum {
    ED_GROUP_NONE = 0, /* open to anyone who can connect to the socket */
    ED_GROUP_INFER,
    ED_GROUP_INGEST,
    ED_GROUP_ADAPT,
    ED_GROUP_ADMIN,
    ED_GROUP_COUNT,
} ed_group_t;

#define ED_ACL_MAX 32

typedef struct {
    bool anyone;
    int n_uids, n_gids;
    uid_t uids[ED_ACL_MAX];
    gid_t gids[ED_ACL_MAX];
} ed_acl_t;

/* Reads the peer credentials of a connected socket. Returns 0 or an ED_E* code. */
int ed_peer_read(int fd, ed_peer_t *out);

/* Compiles an allow list. Unknown user or group names are skipped with a
 * warning naming `what` (e.g. "access.admin"). Returns 0 or ED_ERANGE (too many entries). */
int ed_acl_compile(ed_acl_t *acl, const char *text, const char *what);

/* True when `peer` matches the list: its uid, its primary gid or one of the
 * supplementary groups of its uid's user. */
bool ed_acl_allows(const ed_acl_t *acl, const ed_peer_t *peer);

const char *ed_group_name(ed_group_t group);

#endif
