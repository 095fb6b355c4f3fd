/* main.c - edged's entry point, the top of the tree (nothing includes it):
 * the offline commands of cli/ by name, else the daemon: command line,
 * configuration, start-up in order (config -> metrics -> socket -> signals ->
 * watchdog -> READY), the single uv_run, and an orderly exit on SIGTERM.
 * Fatal errors happen only here, before serving: `edged: <what>: <why>` and
 * a hint, exit 1. */
#include "adapt/scheduler.h"
#include "api/adapt.h"
#include "api/adapters.h"
#include "api/api.h"
#include "api/documents.h"
#include "cli/cli.h"
#include "cli/info.h"
#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/notify.h"
#include "engine/engine.h"
#include "kernels/kernels.h"
#include "kernels/pool.h"
#include "http/peer.h"
#include "model/base.h"
#include "rag/rag.h"
#include "http/server.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    uv_loop_t *loop;
    ed_server_t server;
    ed_app_t app;
    const char *config_path;
    bool config_explicit;
    const char *socket_override;
    const char *log_level_override;
    uv_signal_t sigterm, sigint, sighup;
    uv_timer_t watchdog;
    bool watchdog_on;
    int exit_code;
    ed_pool_t *pool; /* the one compute pool: inference high, background embedding low */
    ed_base_t *base; /* the one chat model, lent to the engine and the chat embedder */
} daemon_t;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: edged [options]\n");
    ed_cli_print_synopses(out);
    fprintf(out,
            "\n"
            "edged is an on-device LLM service: it serves an HTTP API on a Unix socket.\n"
            "\n"
            "options:\n"
            "  -c, --config FILE      configuration file (default %s)\n"
            "  -s, --socket PATH      listen on PATH instead of server.socket\n"
            "  -l, --log-level LEVEL  error, warn, info or debug (overrides log.level)\n"
            "      --check-config     validate the configuration and exit (0: valid)\n"
            "      --print-config     print the documented default configuration and exit\n"
            "      --list-routes      print the API's routes (METHOD PATH GROUP) and exit\n"
            "  -V, --version          print the version and exit\n"
            "  -h, --help             this help\n"
            "\n"
            "Signals: SIGTERM/SIGINT drain and exit 0; SIGHUP reloads the configuration.\n"
            "Documentation: README.md; the API contract: proto/openapi.yaml.\n",
            ED_CONFIG_DEFAULT_PATH);
}

static int load_config(daemon_t *d, ed_config_t *cfg, char err[ED_ERR_LEN])
{
    ed_config_defaults(cfg);
    int rc = ed_config_load(cfg, d->config_path, err);
    if (rc == ED_ENOENT && !d->config_explicit) {
        ed_log_warn("%s does not exist; using the built-in defaults", d->config_path);
        ed_config_defaults(cfg);
        rc = 0;
    }
    if (rc)
        return rc;
    if (d->socket_override && (rc = ed_config_set(cfg, "server.socket", d->socket_override, err)))
        return rc;
    if (d->log_level_override && (rc = ed_config_set(cfg, "log.level", d->log_level_override, err)))
        return rc;
    return 0;
}

/* -------------------------------------------------------------- signals --- */

static void on_drained(ed_server_t *server)
{
    daemon_t *d = (daemon_t *)((char *)server - offsetof(daemon_t, server));
    ed_log_info("all connections closed; exiting");
    ed_api_adapt_close(&d->app); /* (done at the signal already) the runner before the gate goes */
    if (d->app.engine)
        ed_engine_on_submit(d->app.engine, NULL, NULL);
    ed_scheduler_close(d->app.scheduler); /* stops a trainer before the engine and the model go */
    d->app.scheduler = NULL;
    ed_engine_stop(d->app.engine);
    d->app.engine = NULL;
    ed_adapters_close(d->app.adapters);
    d->app.adapters = NULL;
    ed_rag_close(d->app.rag);
    d->app.rag = NULL;
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->sighup, NULL);
    if (d->watchdog_on)
        uv_close((uv_handle_t *)&d->watchdog, NULL);
    ed_server_close(server);
}

static void on_stop_signal(uv_signal_t *handle, int signum)
{
    daemon_t *d = handle->data;
    if (d->server.draining) {
        ed_log_info("%s again: still draining", strsignal(signum));
        return;
    }
    ed_log_info("%s: stopping; in-flight requests have %u ms", strsignal(signum),
                d->server.cfg.server.shutdown_timeout_ms);
    ed_notify_stopping();
    ed_api_adapt_close(&d->app); /* a training job checkpoints now and resumes at the next start */
    ed_server_shutdown(&d->server, on_drained);
}

static void log_change(const ed_option_t *opt, const char *old_value, const char *new_value, void *arg)
{
    (void)arg;
    if (opt->reloadable)
        ed_log_info("config reloaded: %s.%s %s -> %s", opt->section, opt->name, old_value, new_value);
    else
        ed_log_warn("config: %s.%s changed (%s -> %s) but needs a restart to take effect",
                    opt->section, opt->name, old_value, new_value);
}

static void on_reload_signal(uv_signal_t *handle, int signum)
{
    (void)signum;
    daemon_t *d = handle->data;
    ed_notify_reloading();
    ed_config_t next;
    char err[ED_ERR_LEN];
    if (load_config(d, &next, err) != 0) {
        ed_log_error("config reload failed, keeping the running configuration: %s", err);
        ed_notify_ready("serving (reload failed; see the journal)");
        return;
    }
    /* Options that need a restart keep their running values. */
    ed_config_t applied = next;
    for (const ed_option_t *o = ed_config_options; o->name; o++)
        if (!o->reloadable)
            memcpy((char *)&applied + o->offset, (const char *)&d->server.cfg + o->offset, o->size);
    ed_config_diff(&d->server.cfg, &next, log_change, NULL);
    ed_server_reconfigure(&d->server, &applied);
    if (d->app.rag)
        ed_rag_reconfigure(d->app.rag, &applied);
    if (d->app.scheduler)
        ed_scheduler_reconfigure(d->app.scheduler, &applied);
    ed_api_adapt_reconfigure(&d->app, &applied);
    ed_notify_ready("serving");
}

static void on_watchdog(uv_timer_t *timer)
{
    (void)timer;
    ed_notify_watchdog();
}

/* The training scheduler's view of inference (adapt cannot see the engine). */
static void engine_activity(void *arg, bool *busy, double *last_activity_s)
{
    daemon_t *d = arg;
    *busy = false;
    *last_activity_s = 0;
    if (d->app.engine)
        ed_engine_activity(d->app.engine, busy, last_activity_s);
}

/* The store opened on its worker (rag logs how it went); edged serves either way. */
static void on_store_open(int rc, const char *err, void *arg)
{
    daemon_t *d = arg;
    if (rc != 0 && rc != ED_ECANCELED)
        ed_log_error("rag: %s; the store's endpoints answer 503", err);
    /* the adapter registry opens its own handle once the store made the data key */
    char sub[ED_ERR_LEN];
    if (rc == 0 && !d->server.draining &&
        ed_adapters_open(&d->app.adapters, d->loop, &d->server.cfg, d->base, sub) != 0)
        ed_log_error("adapters: %s", sub);
    if (rc == 0 && !d->server.draining)
        ed_api_adapt_open(&d->app, d->loop, &d->server.cfg, d->base);
}

/* ------------------------------------------------------------ check ---- */

static void print_problem(void *arg, const char *message)
{
    int *n_problems = arg;
    (*n_problems)++;
    fprintf(stderr, "edged: %s\n", message);
}

/* `edged --check-config`: every problem of the file (a missing file is one),
 * then whether the models it names are files the daemon can serve. Exit
 * status 0 when the daemon would start with it, 1 otherwise. */
static int check_config(daemon_t *d, ed_config_t *cfg)
{
    char err[ED_ERR_LEN];
    int n_problems = 0;
    ed_config_defaults(cfg);
    int rc = ed_config_load_report(cfg, d->config_path, print_problem, &n_problems, err);
    if (rc == ED_ENOENT || rc == ED_EIO) {
        fprintf(stderr, "edged: hint: `edged --print-config > FILE` writes a documented configuration\n");
        return 1;
    }
    if (d->socket_override && ed_config_set(cfg, "server.socket", d->socket_override, err) != 0)
        print_problem(&n_problems, err);
    /* Allow lists name users and groups that must exist to match anyone:
     * compiling them warns about each unknown name (they fail closed). */
    const char *lists[] = {cfg->access.infer, cfg->access.ingest, cfg->access.adapt, cfg->access.admin};
    const char *names[] = {"access.infer", "access.ingest", "access.adapt", "access.admin"};
    for (int i = 0; i < 4; i++) {
        ed_acl_t acl;
        if (ed_acl_compile(&acl, lists[i], names[i]) != 0)
            fprintf(stderr, "edged: %s: more than %d entries; the rest are ignored\n", names[i], ED_ACL_MAX);
    }
    if (cfg->model.path[0] && ed_info_check_servable(cfg->model.path, false, err) != 0) {
        n_problems++;
        fprintf(stderr, "edged: %s: model.path: %s\n", d->config_path, err);
    }
    if (strcmp(cfg->rag.embedder, "model") == 0) {
        if (!cfg->rag.embedding_model[0]) {
            n_problems++;
            fprintf(stderr, "edged: %s: rag.embedding_model: empty, but rag.embedder = model needs it\n",
                    d->config_path);
        } else if (ed_info_check_servable(cfg->rag.embedding_model, true, err) != 0) {
            n_problems++;
            fprintf(stderr, "edged: %s: rag.embedding_model: %s\n", d->config_path, err);
        }
    }
    if (n_problems) {
        fprintf(stderr, "edged: %s: %d problem%s\n", d->config_path, n_problems, n_problems == 1 ? "" : "s");
        return 1;
    }
    printf("edged: %s: configuration OK\n", d->config_path);
    return 0;
}

/* ---------------------------------------------------------------- main --- */

int main(int argc, char **argv)
{
    enum { OPT_CHECK = 256, OPT_PRINT_CONFIG, OPT_LIST_ROUTES };
    static const struct option long_options[] = {
        {"config", required_argument, NULL, 'c'},   {"socket", required_argument, NULL, 's'},
        {"log-level", required_argument, NULL, 'l'}, {"check-config", no_argument, NULL, OPT_CHECK},
        {"print-config", no_argument, NULL, OPT_PRINT_CONFIG},
        {"list-routes", no_argument, NULL, OPT_LIST_ROUTES},
        {"version", no_argument, NULL, 'V'},        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const ed_cli_command_t *command = argc > 1 ? ed_cli_find(argv[1]) : NULL;
    if (command)
        return command->main(argc - 1, argv + 1);
    static daemon_t d;
    d.config_path = ED_CONFIG_DEFAULT_PATH;
    bool check_only = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:s:l:Vh", long_options, NULL)) != -1) {
        switch (opt) {
        case 'c': d.config_path = optarg; d.config_explicit = true; break;
        case 's': d.socket_override = optarg; break;
        case 'l': d.log_level_override = optarg; break;
        case OPT_CHECK: check_only = true; break;
        case OPT_PRINT_CONFIG: ed_config_write_template(stdout); return 0;
        case OPT_LIST_ROUTES: ed_router_print(stdout, ed_api_routes, ed_api_n_routes); return 0;
        case 'V': printf("edged %s\n", ED_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "edged: unexpected argument \"%s\" (see edged --help)\n", argv[optind]);
        return 2;
    }

    ed_config_t cfg;
    char err[ED_ERR_LEN];
    if (check_only)
        return check_config(&d, &cfg);
    if (load_config(&d, &cfg, err) != 0) {
        fprintf(stderr, "edged: %s\n", err);
        fprintf(stderr, "edged: hint: `edged --check-config --config FILE` checks a file; "
                        "`edged --print-config` shows every option\n");
        return 1;
    }
    ed_log_level_t level;
    if (ed_log_level_parse(cfg.log.level, &level) == 0)
        ed_log_set_level(level);

    signal(SIGPIPE, SIG_IGN);
    ed_metrics_init();
    d.loop = uv_default_loop();
    d.app.server = &d.server;
    d.app.config_path = d.config_path;
    const ed_kernels_t *kernels = ed_kernels_select(getenv("EDGED_KERNELS"));
    d.app.kernels = kernels ? kernels->name : "none";
    if (ed_server_init(&d.server, d.loop, &cfg, ed_api_routes, ed_api_n_routes, &d.app, err) != 0 ||
        ed_server_listen(&d.server, err) != 0) {
        fprintf(stderr, "edged: %s\n", err);
        fprintf(stderr, "edged: hint: set server.socket in %s or pass --socket PATH\n", d.config_path);
        return 1;
    }

    /* the model loads on the engine thread (or the store's, if it asks first) */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = cfg.model.threads ? (int)cfg.model.threads : (int)(cpus > 0 ? cpus : 1);
    if (ed_pool_open(&d.pool, threads < 256 ? threads : 256, err) != 0)
        ed_log_error("compute pool: %s", err); /* the model's load then says so */
    if (cfg.model.path[0] && ed_base_open(&d.base, cfg.model.path, kernels, d.pool, err) != 0)
        ed_log_error("model: %s", err);
    if (ed_engine_start(&d.app.engine, d.loop, &cfg, d.base, err) != 0)
        ed_log_error("engine: %s", err); /* edged keeps serving; /health says why */
    if (ed_scheduler_open(&d.app.scheduler, d.loop, &cfg, engine_activity, &d, err) != 0)
        ed_log_error("adapt: %s; no training windows", err);
    else {
        /* a request's pause also holds the trainer's products mid-way */
        ed_gate_set_pool(ed_scheduler_gate(d.app.scheduler), d.pool);
        if (d.app.engine)
            ed_engine_on_submit(d.app.engine, ed_scheduler_on_request, d.app.scheduler);
    }
    if (ed_rag_open(&d.app.rag, d.loop, &cfg, d.base, d.pool, on_store_open, &d, err) != 0) {
        ed_log_error("rag: %s; the store's endpoints answer 503", err); /* edged keeps serving */
        ed_api_store_unavailable(err);
    }

    uv_signal_init(d.loop, &d.sigterm);
    uv_signal_init(d.loop, &d.sigint);
    uv_signal_init(d.loop, &d.sighup);
    d.sigterm.data = d.sigint.data = d.sighup.data = &d;
    uv_signal_start(&d.sigterm, on_stop_signal, SIGTERM);
    uv_signal_start(&d.sigint, on_stop_signal, SIGINT);
    uv_signal_start(&d.sighup, on_reload_signal, SIGHUP);

    uint64_t watchdog_usec = ed_notify_watchdog_usec();
    if (watchdog_usec) {
        uv_timer_init(d.loop, &d.watchdog);
        d.watchdog_on = true;
        uint64_t every_ms = watchdog_usec / 2000 ? watchdog_usec / 2000 : 1;
        uv_timer_start(&d.watchdog, on_watchdog, every_ms, every_ms);
    }

    const char *where = d.server.listener.activated ? "the socket from systemd" : d.server.cfg.server.socket;
    d.server.ready = true;
    ed_log_info("edged %s serving on %s (pid %d)", ED_VERSION, where, (int)getpid());
    char status[ED_CONFIG_PATH_MAX + 32];
    snprintf(status, sizeof status, "serving on %s", where);
    ed_notify_ready(status);

    uv_run(d.loop, UV_RUN_DEFAULT);
    ed_base_close(d.base); /* its borrowers are gone: the engine stopped, the store closed */
    ed_pool_close(d.pool);
    int rc = uv_loop_close(d.loop);
    if (rc != 0)
        ed_log_warn("event loop closed with handles still open: %s", uv_strerror(rc));
    return d.exit_code;
}
