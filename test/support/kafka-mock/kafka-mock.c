/*
 * A Kafka cluster for tests: librdkafka's mock cluster (the Kafka protocol broker that
 * librdkafka's own test suite uses), N brokers on 127.0.0.1. Built at test time against
 * the machine's librdkafka (test/support/kafka-mock.ts):
 *
 *   kafka-mock BROKERS
 *
 * prints "bootstrap HOST:PORT,..." on stdout, then reads commands from stdin, one a line:
 *   topic NAME PARTITIONS   creates a topic ("ok" or "error ...")
 * and exits when stdin closes or on SIGTERM / SIGINT.
 *
 * One workaround of the mock's group coordinator (librdkafka 2.0.2): it completes a
 * group's sync as soon as the leader's SyncGroup (carrying every member's assignment)
 * arrives, and answers a member whose SyncGroup comes after that with INVALID_REQUEST
 * instead of its assignment (a real broker answers it either way). So that groups of
 * several members form, the launcher holds a SyncGroup request that carries assignments
 * for SYNC_HOLD_MS before the mock reads it (recvmsg, which the mock reads its sockets
 * with, answers "no data yet" meanwhile): the other members' SyncGroups come first.
 * Only the timing changes, never the bytes.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t stop = 0;

#define SYNC_HOLD_MS 300
#define MAX_FD 4096

/* Per socket: bytes of the request being read still to come (0: at a request boundary),
 * and the request held (its correlation id) with the time the hold began. */
static struct {
  int64_t remaining;
  int held;
  int32_t corr;
  int64_t since_ms;
} conns[MAX_FD];

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int32_t be32(const unsigned char *p) { return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]); }
static int16_t be16(const unsigned char *p) { return (int16_t)((uint16_t)p[0] << 8 | p[1]); }

/* Skips a (nullable) int16-length string at *off; 0 when it does not fit in n bytes. */
static int skip_str(const unsigned char *b, ssize_t n, ssize_t *off) {
  int16_t len;
  if (*off + 2 > n) return 0;
  len = be16(b + *off);
  *off += 2 + (len > 0 ? len : 0);
  return *off <= n;
}

/* A SyncGroup v0-v3 request (size, header v1, body) carrying one or more assignments: its correlation id, else -1. */
static int32_t sync_with_assignments(const unsigned char *b, ssize_t n) {
  ssize_t off = 12; /* size, api key, api version, correlation id */
  int16_t version;
  if (n < 14 || be16(b + 4) != 14) return -1;
  version = be16(b + 6);
  if (version > 3) return -1;
  if (!skip_str(b, n, &off) || !skip_str(b, n, &off)) return -1; /* client id, group id */
  off += 4;                                                         /* generation id */
  if (!skip_str(b, n, &off)) return -1;                             /* member id */
  if (version >= 3 && !skip_str(b, n, &off)) return -1;             /* group instance id */
  if (off + 4 > n) return -1;
  return be32(b + off) > 0 ? be32(b + 8) : -1;
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags) {
  static ssize_t (*real)(int, struct msghdr *, int);
  ssize_t r;
  if (!real) real = (ssize_t(*)(int, struct msghdr *, int))dlsym(RTLD_NEXT, "recvmsg");
  if (fd >= 0 && fd < MAX_FD && conns[fd].remaining == 0) {
    unsigned char b[512];
    ssize_t n = recv(fd, b, sizeof b, MSG_PEEK | MSG_DONTWAIT);
    if (n >= 4) {
      int32_t corr = sync_with_assignments(b, n);
      if (corr >= 0) {
        if (!conns[fd].held || conns[fd].corr != corr) {
          conns[fd].held = 1;
          conns[fd].corr = corr;
          conns[fd].since_ms = now_ms();
        }
        if (now_ms() - conns[fd].since_ms < SYNC_HOLD_MS) {
          errno = EAGAIN;
          return -1;
        }
      }
      r = real(fd, msg, flags);
      if (r > 0) conns[fd].remaining = (int64_t)be32(b) + 4 - r;
      return r;
    }
  }
  r = real(fd, msg, flags);
  if (fd >= 0 && fd < MAX_FD) {
    if (r > 0 && conns[fd].remaining > 0) conns[fd].remaining -= r;
    else if (r == 0) conns[fd].remaining = 0; /* closed: the fd may be reused */
    if (conns[fd].remaining < 0) conns[fd].remaining = 0;
  }
  return r;
}

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

int main(int argc, char **argv) {
  int brokers = argc > 1 ? atoi(argv[1]) : 1;
  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_t *rk;
  rd_kafka_mock_cluster_t *mc;
  char line[1024];
  struct sigaction sa;

  if (brokers < 1 || brokers > 9) {
    fprintf(stderr, "kafka-mock: BROKERS must be 1..9\n");
    return 2;
  }
  if (rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err) != RD_KAFKA_CONF_OK) {
    fprintf(stderr, "kafka-mock: %s\n", err);
    return 1;
  }
  rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) {
    fprintf(stderr, "kafka-mock: rd_kafka_new: %s\n", err);
    return 1;
  }
  mc = rd_kafka_mock_cluster_new(rk, brokers);
  if (!mc) {
    fprintf(stderr, "kafka-mock: rd_kafka_mock_cluster_new failed\n");
    return 1;
  }

  /* The mock answers ListOffsets v4+ with an 8-byte leader epoch where the protocol has
   * 4 bytes; clients that pick v4+ misread the reply. v3 has no leader epoch. */
  rd_kafka_mock_set_apiversion(mc, 2 /* ListOffsets */, 0, 3);

  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; /* no SA_RESTART: a signal ends the blocking read */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  printf("bootstrap %s\n", rd_kafka_mock_cluster_bootstraps(mc));
  fflush(stdout);

  while (!stop && fgets(line, sizeof line, stdin)) {
    char name[512];
    int partitions = 0;
    if (sscanf(line, "topic %511s %d", name, &partitions) == 2 && partitions > 0 && partitions <= 1000) {
      rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, name, partitions, brokers < 3 ? brokers : 3);
      if (e) printf("error %s\n", rd_kafka_err2str(e));
      else printf("ok\n");
    } else {
      printf("error bad command\n");
    }
    fflush(stdout);
  }

  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(rk);
  return 0;
}
