/* crash.c - kill -9 during a long ingest loses nothing acknowledged: a child
 * adds documents in a loop and writes each acknowledged id to a pipe; the
 * parent SIGKILLs it at a random moment, reopens the store and checks every
 * acknowledged document and chunk is present and intact. 20 rounds. */
#include "../../test.h"

#include "helpers.h"

#include <errno.h>
#include <time.h>

#define ROUNDS 20

typedef struct {
    int64_t id;
    int32_t seq; /* which text the child wrote */
} ack_t;

static void crash_text(char *out, size_t cap, int seq)
{
    snprintf(out, cap, "Note number %d: the meeting with supplier %d moves to room %d. "
             "Remember the umbrella and the signed contract copy %d.", seq, seq * 7, seq % 13, seq * 31);
}

/* The child: add documents until killed, acknowledging each on fd. */
static void ingest_forever(const char *dir, int64_t collection_id, int fd, int first_seq)
{
    char err[ED_ERR_LEN];
    ed_store_t *store = NULL;
    if (ed_store_open(&store, dir, NULL, err) != 0)
        _exit(3);
    for (int seq = first_seq;; seq++) {
        char text[256], title[32];
        crash_text(text, sizeof text, seq);
        snprintf(title, sizeof title, "note %d", seq);
        test_doc_t d;
        test_doc(&d, collection_id, title, text, seq);
        int64_t id = 0;
        if (ed_store_documents_add(store, &d.in, 1, &id, err) != 0)
            _exit(4);
        ack_t ack = {id, seq};
        if (write(fd, &ack, sizeof ack) != (ssize_t)sizeof ack)
            _exit(5);
    }
}

ED_TEST(acknowledged_documents_survive_sigkill)
{
    const char *dir = test_dir();
    char err[ED_ERR_LEN] = "";
    ed_store_t *store = NULL;
    ED_REQUIRE(ed_store_open(&store, dir, NULL, err) == 0);
    ed_collection_t c;
    ED_REQUIRE(ed_store_collection_create(store, "notes", 1000, "hash-v1-8", TEST_DIM, &c, err) == 0);
    ed_store_close(store);
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    static ack_t acks[100000];
    int n_acks = 0, seq = 0;
    for (int round = 0; round < ROUNDS; round++) {
        int fds[2];
        ED_REQUIRE(pipe(fds) == 0);
        pid_t pid = fork();
        ED_REQUIRE(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            ingest_forever(dir, c.id, fds[1], seq);
        }
        close(fds[1]);
        usleep((useconds_t)(20000 + rand() % 150000));
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        ED_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        ack_t ack;
        ssize_t n;
        int before = n_acks;
        while ((n = read(fds[0], &ack, sizeof ack)) == (ssize_t)sizeof ack && n_acks < 100000) {
            acks[n_acks++] = ack;
            seq = ack.seq + 1;
        }
        close(fds[0]);
        /* The child may have committed one more than it acknowledged. */
        seq += 1;

        ED_REQUIRE(ed_store_open(&store, dir, NULL, err) == 0);
        int bad = 0;
        for (int i = 0; i < n_acks; i++) {
            ed_document_t doc;
            char text[256];
            crash_text(text, sizeof text, acks[i].seq);
            if (ed_store_document_get(store, acks[i].id, true, &doc, err) != 0 || strcmp(doc.text, text) != 0) {
                printf("#   round %d: document %lld (seq %d) lost or damaged: %s\n", round,
                       (long long)acks[i].id, acks[i].seq, err);
                bad++;
            }
            for (int k = 0; k < doc.n_chunks; k++) {
                ed_chunk_t chunk;
                if (ed_store_chunk_get(store, ed_chunk_id(acks[i].id, k), &chunk, err) != 0) {
                    printf("#   chunk %d of %lld: %s\n", k, (long long)acks[i].id, err);
                    bad++;
                }
                ed_chunk_free(&chunk);
            }
            ed_document_free(&doc);
        }
        ed_collection_t now;
        ED_REQUIRE(ed_store_collection_by_id(store, c.id, &now, err) == 0);
        ED_CHECK(now.n_documents >= n_acks);
        ED_CHECK(now.n_documents <= n_acks + round + 1);
        ed_store_close(store);
        ED_CHECK_INT(bad, 0);
        printf("# round %d: %d acknowledged (%d this round), all present\n", round, n_acks, n_acks - before);
    }
    ED_CHECK(n_acks > ROUNDS);
}

ED_TEST_MAIN(acknowledged_documents_survive_sigkill)
