/* Tests daemon/adapt/gate.c with a fake trainer thread that loops on the gate
 * as the trainer does between kernel calls: pause blocks it within one call,
 * run releases it, stop ends it; pauses are counted and their latency
 * observed. Runs under ThreadSanitizer in make test-tsan. */
#include "adapt/gate.h"
#include "../../test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

typedef struct {
    ed_gate_t *gate;
    _Atomic uint64_t calls; /* "kernel calls" done */
    _Atomic int stopped;
} fake_trainer_t;

static void *trainer_main(void *arg)
{
    fake_trainer_t *t = arg;
    ed_gate_begin(t->gate);
    while (ed_gate_wait(t->gate) == 0) {
        volatile double x = 0; /* one "kernel call" */
        for (int i = 0; i < 2000; i++)
            x += i * 0.5;
        atomic_fetch_add(&t->calls, 1);
    }
    atomic_store(&t->stopped, 1);
    ed_gate_end(t->gate);
    return NULL;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits up to 5 s for cond; false on timeout. */
#define WAIT_FOR(cond)                                                                                \
    ({                                                                                                \
        bool ok_ = false;                                                                             \
        for (int i_ = 0; i_ < 5000 && !(ok_ = (cond)); i_++)                                          \
            sleep_ms(1);                                                                              \
        ok_;                                                                                          \
    })

ED_TEST(pause_run_stop)
{
    char err[ED_ERR_LEN];
    fake_trainer_t t = {0};
    ED_REQUIRE(ed_gate_create(&t.gate, err) == 0);
    ED_CHECK_INT(ed_gate_state(t.gate), ED_TRAINER_IDLE);
    pthread_t th;
    pthread_create(&th, NULL, trainer_main, &t);
    ED_CHECK(WAIT_FOR(atomic_load(&t.calls) > 10));
    ED_CHECK_INT(ed_gate_state(t.gate), ED_TRAINER_RUNNING);

    for (int round = 0; round < 20; round++) {
        ed_gate_pause(t.gate);
        ed_gate_pause(t.gate); /* a second pause of the same pause counts once */
        ED_CHECK(WAIT_FOR(ed_gate_blocked(t.gate)));
        ED_CHECK_INT(ed_gate_state(t.gate), ED_TRAINER_PAUSED);
        uint64_t frozen = atomic_load(&t.calls);
        sleep_ms(5);
        ED_CHECK(atomic_load(&t.calls) == frozen); /* no call runs while paused */
        ed_gate_run(t.gate);
        ED_CHECK(WAIT_FOR(atomic_load(&t.calls) > frozen));
    }
    ED_CHECK_INT((int)ed_gate_pauses(t.gate), 20);
    ED_CHECK_INT((int)ed_histogram_count(ed_gate_pause_latency(t.gate)), 20);

    ed_gate_pause(t.gate);
    ED_CHECK(WAIT_FOR(ed_gate_blocked(t.gate)));
    ed_gate_stop(t.gate); /* stop releases a paused trainer, which ends */
    ed_gate_pause(t.gate); /* stop wins over a later pause */
    ED_CHECK_INT(ed_gate_command(t.gate), ED_GATE_STOP);
    pthread_join(th, NULL);
    ED_CHECK(atomic_load(&t.stopped) == 1);
    ED_CHECK_INT(ed_gate_state(t.gate), ED_TRAINER_IDLE);
    ED_CHECK_INT((int)ed_gate_pauses(t.gate), 21);
    ed_gate_free(t.gate);
}

ED_TEST(stop_while_running_and_restart)
{
    char err[ED_ERR_LEN];
    fake_trainer_t t = {0};
    ED_REQUIRE(ed_gate_create(&t.gate, err) == 0);
    pthread_t th;
    pthread_create(&th, NULL, trainer_main, &t);
    ED_CHECK(WAIT_FOR(atomic_load(&t.calls) > 10));
    ed_gate_stop(t.gate);
    pthread_join(th, NULL);
    ED_CHECK(atomic_load(&t.stopped) == 1);
    ED_CHECK(ed_gate_wait(t.gate) == 1);
    /* the window reopens: run, and a new trainer goes on */
    ed_gate_run(t.gate);
    atomic_store(&t.stopped, 0);
    atomic_store(&t.calls, 0);
    pthread_create(&th, NULL, trainer_main, &t);
    ED_CHECK(WAIT_FOR(atomic_load(&t.calls) > 10));
    ed_gate_stop(t.gate);
    pthread_join(th, NULL);
    ED_CHECK_INT((int)ed_gate_pauses(t.gate), 0);
    ed_gate_free(t.gate);
}

ED_TEST_MAIN(pause_run_stop, stop_while_running_and_restart)
