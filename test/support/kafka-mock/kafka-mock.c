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
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t stop = 0;

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
