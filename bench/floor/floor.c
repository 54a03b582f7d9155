/*
 * The kernel floor of fan-out: the cheapest way to put one frame on each of
 * N loopback TCP sockets, against which Herald's CPU and latency figures are
 * read (issue 12, build item 1).
 *
 * Two processes, so each holds N sockets (open files are capped at 20,000
 * per process on the benchmark machine):
 *   - the drainer (a forked child) listens on 127.0.0.1:<any>, accepts N
 *     connections and reads everything through epoll, like a client;
 *   - the sender (the parent) connects N sockets with TCP_NODELAY, then
 *     every 1/R seconds for D seconds send()s the same frame to each socket
 *     in turn: one broadcast.
 *
 * Figures, for the sender only (getrusage user + system; on loopback the
 * receiver's TCP work runs in the sender's softirq and is charged to it, as
 * it is to a gateway):
 *   - CPU seconds per million sends (= CPU microseconds per send);
 *   - the span of one broadcast, from the start of its first send() to the
 *     end of its last, at p50, p99 and max;
 *   - sends done, broadcasts that started late (the previous one overran).
 * A sender that falls behind (a busy machine) stops starting broadcasts at
 * 2 x D + 1 s and says how many it did; the figures cover those.
 * The drainer's CPU is printed beside them, but is not part of the floor.
 *
 * Output: a few lines of text, then one JSON line (the last line; with -q
 * only the JSON line). Built by scripts/floor.sh with `cc -O2`.
 *
 * usage: floor [-n sockets] [-r broadcasts/s] [-d seconds] [-s frame bytes] [-q]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* One process may open 20,000 files here: leave room for the rest. */
#define MAX_SOCKETS 19000
#define MAX_FRAME 65536
/* Spans are kept for every broadcast; this bounds that array (80 MB). */
#define MAX_BROADCASTS 10000000L
/* How long the drainer waits for the last bytes after the sender is done. */
#define DRAIN_TIMEOUT_S 30.0

struct drain_result {
    uint64_t bytes;
    int64_t user_us;
    int64_t sys_us;
    int32_t accepted;
    int32_t ok;
};

static void die(const char *what) {
    fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
    exit(1);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_until(double t) {
    struct timespec ts;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec += 1;
        ts.tv_nsec -= 1000000000L;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

static int64_t tv_us(struct timeval tv) { return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec; }

static void full_write(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) die("pipe write");
        p += w;
        len -= (size_t)w;
    }
}

/* Reads exactly len bytes; 0 on success, -1 on EOF or error. */
static int full_read(int fd, void *buf, size_t len) {
    char *p = buf;
    while (len > 0) {
        ssize_t r = read(fd, p, len);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        p += r;
        len -= (size_t)r;
    }
    return 0;
}

static void raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* The drainer: accept n connections, report the port and readiness on
 * `up`, read until the sender's byte count (from `down`) has arrived. */
static void drainer(int n, int down, int up) {
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0) die("socket");
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
    if (listen(lfd, n < 4096 ? 4096 : n) < 0) die("listen");
    socklen_t alen = sizeof a;
    if (getsockname(lfd, (struct sockaddr *)&a, &alen) < 0) die("getsockname");
    uint16_t port = ntohs(a.sin_port);
    full_write(up, &port, sizeof port);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN};
    ev.data.fd = lfd;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0) die("epoll_ctl listener");
    ev.data.fd = down;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, down, &ev) < 0) die("epoll_ctl control");

    int *fds = calloc((size_t)n, sizeof *fds);
    if (!fds) die("calloc");
    int accepted = 0, ready_sent = 0, have_expected = 0;
    uint64_t bytes = 0, expected = 0;
    double deadline = 0;
    static char buf[1 << 16];
    struct epoll_event evs[1024];
    for (;;) {
        if (have_expected && (bytes >= expected || now_s() > deadline)) break;
        int k = epoll_wait(ep, evs, 1024, 100);
        if (k < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < k; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                for (;;) {
                    int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (c < 0) {
                        if (errno == EAGAIN || errno == EINTR) break;
                        die("accept4");
                    }
                    if (accepted == n) { /* not ours */
                        close(c);
                        continue;
                    }
                    fds[accepted++] = c;
                    struct epoll_event cev = {.events = EPOLLIN};
                    cev.data.fd = c;
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev) < 0) die("epoll_ctl socket");
                }
                if (accepted == n && !ready_sent) {
                    char r = 'R';
                    full_write(up, &r, 1);
                    ready_sent = 1;
                }
            } else if (fd == down) {
                if (full_read(down, &expected, sizeof expected) < 0) {
                    expected = 0; /* the sender died: stop */
                }
                have_expected = 1;
                deadline = now_s() + DRAIN_TIMEOUT_S;
                epoll_ctl(ep, EPOLL_CTL_DEL, down, NULL);
            } else {
                for (;;) {
                    ssize_t r = read(fd, buf, sizeof buf);
                    if (r > 0) {
                        bytes += (uint64_t)r;
                        continue;
                    }
                    if (r < 0 && errno == EINTR) continue;
                    if (r == 0) epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
                    break;
                }
            }
        }
    }
    /* Close first, so TIME_WAIT lands on the listener's port, not on the
     * sender's ephemeral ports. */
    for (int i = 0; i < accepted; i++) close(fds[i]);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    struct drain_result res = {
        .bytes = bytes,
        .user_us = tv_us(ru.ru_utime),
        .sys_us = tv_us(ru.ru_stime),
        .accepted = accepted,
        .ok = bytes >= expected,
    };
    full_write(up, &res, sizeof res);
    _exit(0);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[0..n). */
static double pct(const double *v, long n, double p) {
    if (n == 0) return NAN;
    long i = (long)ceil(p / 100.0 * (double)n) - 1;
    if (i < 0) i = 0;
    if (i >= n) i = n - 1;
    return v[i];
}

static void usage(void) {
    fprintf(stderr,
            "usage: floor [-n sockets (1..%d, default 10000)] [-r broadcasts/s (default 10)]\n"
            "             [-d seconds (default 30)] [-s frame bytes (1..%d, default 120)] [-q]\n",
            MAX_SOCKETS, MAX_FRAME);
    exit(64);
}

int main(int argc, char **argv) {
    long n = 10000, frame_len = 120;
    double rate = 10, duration = 30;
    int quiet = 0, opt;
    while ((opt = getopt(argc, argv, "n:r:d:s:qh")) != -1) {
        char *end = NULL;
        switch (opt) {
        case 'n': n = strtol(optarg, &end, 10); break;
        case 'r': rate = strtod(optarg, &end); break;
        case 'd': duration = strtod(optarg, &end); break;
        case 's': frame_len = strtol(optarg, &end, 10); break;
        case 'q': quiet = 1; continue;
        default: usage();
        }
        if (!end || *end != '\0') usage();
    }
    if (optind != argc || n < 1 || n > MAX_SOCKETS || !(rate > 0) || !(duration > 0) ||
        frame_len < 1 || frame_len > MAX_FRAME)
        usage();
    long broadcasts = (long)floor(rate * duration);
    if (broadcasts < 1) broadcasts = 1;
    if (broadcasts > MAX_BROADCASTS) {
        fprintf(stderr, "floor: at most %ld broadcasts (rate x duration)\n", MAX_BROADCASTS);
        return 64;
    }
    raise_nofile();
    signal(SIGPIPE, SIG_IGN);

    int down[2], up[2];
    if (pipe2(down, O_CLOEXEC) < 0 || pipe2(up, O_CLOEXEC) < 0) die("pipe");
    pid_t child = fork();
    if (child < 0) die("fork");
    if (child == 0) {
        close(down[1]);
        close(up[0]);
        drainer((int)n, down[0], up[1]);
    }
    close(down[0]);
    close(up[1]);

    uint16_t port;
    if (full_read(up[0], &port, sizeof port) < 0) {
        fprintf(stderr, "floor: the drainer did not start\n");
        return 1;
    }
    int *fds = calloc((size_t)n, sizeof *fds);
    double *spans = calloc((size_t)broadcasts, sizeof *spans);
    char *frame = malloc((size_t)frame_len);
    if (!fds || !spans || !frame) die("alloc");
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    for (long i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) die("socket (sender)");
        int one = 1;
        if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) die("TCP_NODELAY");
        while (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
            if (errno != EINTR) die("connect");
        }
        fds[i] = fd;
    }
    char ready;
    if (full_read(up[0], &ready, 1) < 0 || ready != 'R') {
        fprintf(stderr, "floor: the drainer did not accept every connection\n");
        return 1;
    }

    /* A server-to-client WebSocket text frame of frame_len bytes in all. */
    memset(frame, 'x', (size_t)frame_len);
    if (frame_len >= 2 && frame_len - 2 <= 125) {
        frame[0] = (char)0x81;
        frame[1] = (char)(frame_len - 2);
    } else if (frame_len >= 4 && frame_len - 4 <= 65535) {
        frame[0] = (char)0x81;
        frame[1] = 126;
        frame[2] = (char)(((frame_len - 4) >> 8) & 0xff);
        frame[3] = (char)((frame_len - 4) & 0xff);
    }

    long late = 0, done = 0;
    uint64_t sends = 0;
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    double t0 = now_s() + 0.01;
    for (long b = 0; b < broadcasts; b++) {
        double target = t0 + (double)b / rate;
        double t = now_s();
        if (t - t0 > 2.0 * duration + 1.0) break;
        if (t < target)
            sleep_until(target);
        else if (b > 0 && t - target > 0.001)
            late++;
        double start = now_s();
        for (long i = 0; i < n; i++) {
            const char *p = frame;
            size_t left = (size_t)frame_len;
            while (left > 0) {
                ssize_t w = send(fds[i], p, left, MSG_NOSIGNAL);
                if (w < 0) {
                    if (errno == EINTR) continue;
                    die("send");
                }
                p += w;
                left -= (size_t)w;
            }
            sends++;
        }
        spans[b] = now_s() - start;
        done++;
    }
    double wall = now_s() - t0;
    getrusage(RUSAGE_SELF, &r1);

    uint64_t expected = sends * (uint64_t)frame_len;
    full_write(down[1], &expected, sizeof expected);
    struct drain_result dr = {0};
    int drained = full_read(up[0], &dr, sizeof dr) == 0;
    for (long i = 0; i < n; i++) close(fds[i]);
    waitpid(child, NULL, 0);

    double user = (double)(tv_us(r1.ru_utime) - tv_us(r0.ru_utime)) / 1e6;
    double sys = (double)(tv_us(r1.ru_stime) - tv_us(r0.ru_stime)) / 1e6;
    double cpu = user + sys;
    double per_million = sends ? cpu / (double)sends * 1e6 : NAN;
    qsort(spans, (size_t)done, sizeof *spans, cmp_double);
    double p50 = pct(spans, done, 50) * 1e3, p99 = pct(spans, done, 99) * 1e3,
           mx = done ? spans[done - 1] * 1e3 : NAN;
    double dcpu = (double)(dr.user_us + dr.sys_us) / 1e6;
    int ok = drained && dr.ok;

    if (!quiet) {
        printf("floor: %ld sockets, %g broadcasts/s for %gs, %ld-byte frame\n", n, rate, duration,
               frame_len);
        printf("sends             %llu in %ld of %ld broadcasts (%ld started late%s), %.2fs wall\n",
               (unsigned long long)sends, done, broadcasts, late,
               done < broadcasts ? "; stopped: the sender fell behind" : "", wall);
        printf("sender CPU        %.3fs (user %.3f, sys %.3f) = %.2f CPU-s per million sends\n", cpu,
               user, sys, per_million);
        printf("broadcast span    p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", p50, p99, mx);
        printf("drainer           %.3fs CPU, %llu of %llu bytes%s\n", dcpu,
               (unsigned long long)dr.bytes, (unsigned long long)expected,
               ok ? "" : " (INCOMPLETE)");
    }
    printf("{\"tool\":\"herald-floor\",\"sockets\":%ld,\"rate\":%g,\"duration_s\":%g,"
           "\"frame_bytes\":%ld,\"broadcasts\":%ld,\"broadcasts_done\":%ld,\"late_broadcasts\":%ld,\"sends\":%llu,"
           "\"wall_s\":%.4f,\"sender_cpu_s\":%.4f,\"sender_user_s\":%.4f,\"sender_sys_s\":%.4f,"
           "\"cpu_s_per_million_sends\":%.4f,\"span_p50_ms\":%.4f,\"span_p99_ms\":%.4f,"
           "\"span_max_ms\":%.4f,\"drainer_cpu_s\":%.4f,\"drained_bytes\":%llu,"
           "\"expected_bytes\":%llu,\"ok\":%s}\n",
           n, rate, duration, frame_len, broadcasts, done, late, (unsigned long long)sends, wall, cpu,
           user, sys, per_million, p50, p99, mx, dcpu, (unsigned long long)dr.bytes,
           (unsigned long long)expected, ok ? "true" : "false");
    return ok ? 0 : 1;
}
