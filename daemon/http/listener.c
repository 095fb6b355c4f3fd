/* listener.c - see listener.h. */
#include "http/listener.h"
#include "core/log.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

static int inherited_socket(ed_listener_t *l, char err[ED_ERR_LEN])
{
    int n = sd_listen_fds(1);
    if (n <= 0)
        return 0;
    if (n > 1) {
        snprintf(err, ED_ERR_LEN, "socket activation passed %d sockets; edged takes exactly one", n);
        return ED_ECONFIG;
    }
    int fd = SD_LISTEN_FDS_START;
    if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
        snprintf(err, ED_ERR_LEN, "the socket passed by socket activation is not a listening Unix stream socket");
        return ED_ECONFIG;
    }
    l->fd = fd;
    l->activated = true;
    return 1;
}

/* Decides what to do with an existing file at `path`: 0 when the path is
 * free (or was a stale socket, now removed), else an error. */
static int clear_stale(const char *path, char err[ED_ERR_LEN])
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, ED_ERR_LEN, "%s: %s", path, strerror(errno));
        return ed_err_from_errno(errno);
    }
    if (S_ISLNK(st.st_mode)) {
        snprintf(err, ED_ERR_LEN, "%s: is a symbolic link; refusing to follow or replace it", path);
        return ED_EEXIST;
    }
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, ED_ERR_LEN, "%s: exists and is not a socket; refusing to replace it", path);
        return ED_EEXIST;
    }
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0) {
        snprintf(err, ED_ERR_LEN, "socket: %s", strerror(errno));
        return ed_err_from_errno(errno);
    }
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    memcpy(addr.sun_path, path, strlen(path) + 1);
    int connected = connect(probe, (struct sockaddr *)&addr, sizeof addr) == 0;
    int connect_errno = errno;
    close(probe);
    if (connected) {
        snprintf(err, ED_ERR_LEN, "%s: another edged is listening on this socket", path);
        return ED_EBUSY;
    }
    if (connect_errno != ECONNREFUSED) {
        snprintf(err, ED_ERR_LEN, "%s: cannot tell whether the socket is in use: %s", path,
                 strerror(connect_errno));
        return ed_err_from_errno(connect_errno);
    }
    if (unlink(path) != 0) {
        snprintf(err, ED_ERR_LEN, "%s: cannot remove the stale socket: %s", path, strerror(errno));
        return ed_err_from_errno(errno);
    }
    ed_log_info("removed stale socket %s", path);
    return 0;
}

static int resolve_group(const char *group, gid_t *gid, char err[ED_ERR_LEN])
{
    char *end;
    unsigned long id = strtoul(group, &end, 10);
    if (*group >= '0' && *group <= '9' && *end == '\0') {
        *gid = (gid_t)id;
        return 0;
    }
    struct group gr, *found = NULL;
    char buf[16384];
    if (getgrnam_r(group, &gr, buf, sizeof buf, &found) != 0 || !found) {
        snprintf(err, ED_ERR_LEN, "server.socket_group: group \"%s\" does not exist", group);
        return ED_ECONFIG;
    }
    *gid = found->gr_gid;
    return 0;
}

int ed_listener_open(ed_listener_t *l, const char *path, uint32_t mode, const char *group,
                     char err[ED_ERR_LEN])
{
    l->fd = -1;
    l->activated = false;
    l->path[0] = '\0';
    int rc = inherited_socket(l, err);
    if (rc != 0)
        return rc < 0 ? rc : 0;

    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path) {
        snprintf(err, ED_ERR_LEN, "server.socket: path is longer than %zu bytes: %s",
                 sizeof addr.sun_path - 1, path);
        return ED_ECONFIG;
    }
    gid_t gid = (gid_t)-1;
    if (group && *group && (rc = resolve_group(group, &gid, err)) != 0)
        return rc;
    if ((rc = clear_stale(path, err)) != 0)
        return rc;

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, ED_ERR_LEN, "socket: %s", strerror(errno));
        return ed_err_from_errno(errno);
    }
    memcpy(addr.sun_path, path, strlen(path) + 1);
    /* Bind with no permissions at all, then open up to `mode`: the socket is
     * never reachable with wider permissions than configured. */
    mode_t old_umask = umask(0777);
    int bound = bind(fd, (struct sockaddr *)&addr, sizeof addr);
    int bind_errno = errno;
    umask(old_umask);
    if (bound != 0) {
        snprintf(err, ED_ERR_LEN, "%s: cannot bind: %s", path, strerror(bind_errno));
        close(fd);
        return ed_err_from_errno(bind_errno);
    }
    if ((gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) != 0) || chmod(path, (mode_t)mode) != 0) {
        snprintf(err, ED_ERR_LEN, "%s: cannot set owner group or mode: %s", path, strerror(errno));
        rc = ed_err_from_errno(errno);
        unlink(path);
        close(fd);
        return rc;
    }
    if (listen(fd, SOMAXCONN) != 0) {
        snprintf(err, ED_ERR_LEN, "%s: cannot listen: %s", path, strerror(errno));
        rc = ed_err_from_errno(errno);
        unlink(path);
        close(fd);
        return rc;
    }
    l->fd = fd;
    snprintf(l->path, sizeof l->path, "%s", path);
    return 0;
}

void ed_listener_close(ed_listener_t *l)
{
    if (l->fd >= 0 && !l->activated && l->path[0])
        unlink(l->path);
    l->path[0] = '\0';
    l->fd = -1; /* the fd itself is owned and closed by the uv handle that wraps it */
}
