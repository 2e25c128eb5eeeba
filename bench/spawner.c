/* The bare spawner: the least process work a durable DAG runner can do, as the limit that
 * bench/run-overhead.sh sets meshbook's figures against.
 *
 *   spawner J DIR -- PROGRAM ARGS... < DAG
 *
 * DAG has one line per step, in an order where every step comes after its dependencies:
 * "INDEX DEP DEP ..." (0-based indices). At most J steps run at once. Per step it does the
 * least a durable runner must: the step started in its own process group (posix_spawn), a
 * journal line when it starts and when it ends, and the journal synced (fdatasync) before any
 * dependant starts; steps that end together share one sync. Output goes to /dev/null: a log
 * is only made for a step that writes something, and these write nothing. DIR gets the
 * journal.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct step {
    int waiting_on;
    int ndeps_of; /* dependants */
    int *deps_of;
    pid_t pid;
};

static void die(const char *what) {
    perror(what);
    exit(2);
}

static void journal(int fd, const char *kind, int i) {
    char line[256];
    int n = snprintf(line, sizeof line,
                     "{\"at\":1700000000000,\"event\":\"%s\",\"step\":\"s%d\",\"attempt\":1,"
                     "\"chain\":\"0000000000000000000000000000000000000000000000000000000000000000\"}\n",
                     kind, i);
    if (write(fd, line, n) != n) die("journal");
}

static posix_spawnattr_t attr;
static struct step *g_steps;
static int *g_ready, head, tail, running, g_jfd, g_j;
static posix_spawn_file_actions_t g_actions;
static char **g_child;

static void launch_ready(void) {
    while (running < g_j && head < tail) {
        int i = g_ready[head++];
        journal(g_jfd, "step_started", i);
        int rc = posix_spawn(&g_steps[i].pid, g_child[0], &g_actions, &attr, g_child, environ);
        if (rc != 0) { errno = rc; die(g_child[0]); }
        running++;
    }
}

int main(int argc, char **argv) {
    if (argc < 5 || strcmp(argv[3], "--") != 0) {
        fprintf(stderr, "usage: spawner J DIR -- PROGRAM ARGS... < DAG\n");
        return 2;
    }
    int j = atoi(argv[1]);
    const char *dir = argv[2];
    char **child = argv + 4;

    /* Read the DAG. */
    int cap = 1024, n = 0;
    struct step *steps = calloc(cap, sizeof *steps);
    int (*edges)[2] = NULL;
    int nedges = 0, edgecap = 0;
    char *line = NULL;
    size_t linecap = 0;
    while (getline(&line, &linecap, stdin) > 0) {
        char *p = line, *end;
        long i = strtol(p, &end, 10);
        if (end == p) continue;
        if (i != n) { fprintf(stderr, "step %ld out of order\n", i); return 2; }
        if (n == cap) { cap *= 2; steps = realloc(steps, cap * sizeof *steps); }
        memset(&steps[n], 0, sizeof steps[n]);
        for (p = end;;) {
            long d = strtol(p, &end, 10);
            if (end == p) break;
            p = end;
            if (nedges == edgecap) { edgecap = edgecap ? edgecap * 2 : 1024; edges = realloc(edges, edgecap * sizeof *edges); }
            edges[nedges][0] = (int)d;
            edges[nedges][1] = n;
            nedges++;
            steps[n].waiting_on++;
            steps[d].ndeps_of++;
        }
        n++;
    }
    for (int i = 0; i < n; i++) steps[i].deps_of = calloc(steps[i].ndeps_of + 1, sizeof(int)), steps[i].ndeps_of = 0;
    for (int e = 0; e < nedges; e++) {
        struct step *s = &steps[edges[e][0]];
        s->deps_of[s->ndeps_of++] = edges[e][1];
    }

    char path[4096];
    snprintf(path, sizeof path, "%s/journal.jsonl", dir);
    int jfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (jfd < 0) die(path);

    int *ready = malloc((n + 1) * sizeof(int));
    head = 0, tail = 0;
    for (int i = 0; i < n; i++)
        if (steps[i].waiting_on == 0) ready[tail++] = i;
    int *finished = malloc((n + 1) * sizeof(int));
    int done = 0, failed = 0;

    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawn_file_actions_init(&g_actions);
    posix_spawn_file_actions_addopen(&g_actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&g_actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&g_actions, 1, 2);
    g_steps = steps, g_ready = ready, g_child = child, g_jfd = jfd, g_j = j;

    while (done < n) {
        launch_ready();
        if (running == 0) break;
        /* One blocking wait, then whatever else has ended: they share the sync. */
        int nf = 0, status;
        pid_t pid = waitpid(-1, &status, 0);
        while (pid > 0) {
            for (int i = 0; i < n; i++)
                if (steps[i].pid == pid) {
                    steps[i].pid = 0;
                    finished[nf++] = i;
                    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed++;
                    break;
                }
            running--;
            pid = waitpid(-1, &status, WNOHANG);
        }
        for (int k = 0; k < nf; k++) journal(jfd, "step_succeeded", finished[k]);
        /* Steps that were ready already start before the sync, as meshbook's do. */
        launch_ready();
        if (fdatasync(jfd) != 0) die("fdatasync");
        for (int k = 0; k < nf; k++) {
            struct step *s = &steps[finished[k]];
            for (int d = 0; d < s->ndeps_of; d++)
                if (--steps[s->deps_of[d]].waiting_on == 0) ready[tail++] = s->deps_of[d];
            done++;
        }
    }
    return failed ? 1 : 0;
}
