/* load.c: `pushpoll load echo|churn --connect HOST:PORT`: the bench's load
 * generator alone, against any RFC 862 echo server on any host.
 *
 * It is what a user runs against a server the bench cannot start: one on
 * a second machine (`pushpoll serve echo --host 0.0.0.0` there), or any
 * other echo server.  The load is the bench's (loadgen.h): closed loop, or
 * open loop at --rate with latency from the intended send time; every byte
 * is checked.  The rounds are the bench's rounds and the table, JSON and
 * CSV are the bench's, with one row; the figures of the server's side (CPU,
 * heap, RSS) are not the client's to measure and are printed as "-"
 * (null in JSON, empty in CSV).
 *
 * A server that cannot be reached, refuses, closes connections early,
 * changes, drops or adds bytes, or stalls, is a measured failure: one line
 * on stderr naming it and the problem, no further rounds, exit status 1.
 */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "clock.h"
#include "loadgen.h"

static void load_usage(FILE *f)
{
	fprintf(f,
"usage: pushpoll load echo|churn --connect HOST:PORT [OPTIONS]\n"
"\n"
"The bench's load generator alone, against any RFC 862 echo server; every\n"
"byte is checked.  Prints the bench's table with one row.\n"
"\n"
"  --connect HOST:PORT  the server (required)\n"
"  --name NAME          the row's name (default HOST:PORT)\n"
"  --rounds N           runs, one after the other (default 3)\n"
"  --conns N            connections (churn: exchanges at once; default 50)\n"
"  --depth N            messages in flight per connection (default 1)\n"
"  --size SIZE          bytes per message (default 64)\n"
"  --rate MSGS/S        open loop at this rate in all (echo; default closed)\n"
"  --duration DURATION  measured time per run (default 2s)\n"
"  --warmup DURATION    unmeasured time before it (default 500ms)\n"
"  --json FILE  --csv FILE  every figure, in the bench's format\n"
"  --quiet              no progress line on stderr\n"
"\n"
"exit status: 0 every byte came back, 1 the server failed (unreachable,\n"
"  refused, closed early, wrong or missing bytes), 2 a usage error\n");
}

static void parse_connect(const char *text, char *host, size_t len,
			  uint16_t *port)
{
	const char *colon = strrchr(text, ':');

	if (colon == NULL || colon == text || (size_t)(colon - text) >= len)
		cli_usage_error("--connect wants HOST:PORT, not '%s'", text);
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = '\0';
	*port = (uint16_t)cli_uint("--connect PORT", colon + 1, 1, 65535);
	cli_host("--connect HOST", host);
}

int load_main(int argc, char **argv)
{
	enum { O_CONNECT = 256, O_NAME, O_CONNS, O_DEPTH, O_SIZE, O_RATE,
	       O_DURATION, O_WARMUP, O_ROUNDS, O_JSON, O_CSV, O_QUIET,
	       O_HELP };
	static const struct option opts[] = {
		{ "connect", required_argument, NULL, O_CONNECT },
		{ "name", required_argument, NULL, O_NAME },
		{ "conns", required_argument, NULL, O_CONNS },
		{ "depth", required_argument, NULL, O_DEPTH },
		{ "size", required_argument, NULL, O_SIZE },
		{ "rate", required_argument, NULL, O_RATE },
		{ "duration", required_argument, NULL, O_DURATION },
		{ "warmup", required_argument, NULL, O_WARMUP },
		{ "rounds", required_argument, NULL, O_ROUNDS },
		{ "json", required_argument, NULL, O_JSON },
		{ "csv", required_argument, NULL, O_CSV },
		{ "quiet", no_argument, NULL, O_QUIET },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	static double v[BENCH_MAX_ROUNDS][BENCH_F_COUNT];
	struct bench_opts o;
	struct bench_report *rep;
	struct bench_section *sec;
	enum bench_mode mode;
	const char *connect = NULL, *name = NULL;
	char host[256], label[300], why[200];
	uint16_t port = 0;
	int c, ok = 0, rc;

	bench_opts_default(&o);
	o.pin = false;
	if (argc > 1 && strcmp(argv[1], "--help") == 0) {
		load_usage(stdout);
		return 0;
	}
	if (argc < 2 || argv[1][0] == '-')
		cli_usage_error("load wants a workload: 'load echo' or "
				"'load churn'");
	if (strcmp(argv[1], "echo") == 0)
		mode = BENCH_ECHO;
	else if (strcmp(argv[1], "churn") == 0)
		mode = BENCH_CHURN;
	else
		cli_usage_error("load: unknown workload '%s' (workloads: "
				"echo, churn)", argv[1]);
	argc--;
	argv++;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case O_CONNECT: connect = optarg; break;
		case O_NAME: name = optarg; break;
		case O_CONNS:
			o.conns = (unsigned)cli_uint("--conns", optarg, 1,
						     10000);
			break;
		case O_DEPTH:
			o.depth = (unsigned)cli_uint("--depth", optarg, 1,
						     LOADGEN_MAX_DEPTH);
			break;
		case O_SIZE:
			o.msg_size = cli_size("--size", optarg, 1, 1 << 20);
			break;
		case O_RATE:
			o.rate = cli_uint("--rate", optarg, 0, 100000000);
			break;
		case O_DURATION:
			o.duration_ns = cli_duration_ns("--duration", optarg);
			break;
		case O_WARMUP:
			o.warmup_ns = cli_duration_ns("--warmup", optarg);
			break;
		case O_ROUNDS:
			o.rounds = (int)cli_uint("--rounds", optarg, 1,
						 BENCH_MAX_ROUNDS);
			break;
		case O_JSON: o.json = optarg; break;
		case O_CSV: o.csv = optarg; break;
		case O_QUIET: o.progress = false; break;
		case O_HELP:
			load_usage(stdout);
			exit(0);
		case ':':
			cli_usage_error("%s needs a value", argv[optind - 1]);
		default:
			cli_usage_error("load: unknown option '%s'",
					argv[optind - 1]);
		}
	}
	if (optind < argc)
		cli_usage_error("load: unexpected argument '%s'", argv[optind]);
	if (connect == NULL)
		cli_usage_error("load needs --connect HOST:PORT");
	if (o.duration_ns == 0)
		cli_usage_error("--duration must be more than 0");
	if (mode == BENCH_CHURN)
		o.rate = 0;
	parse_connect(connect, host, sizeof(host), &port);
	snprintf(label, sizeof(label), "%s", name ? name : connect);
	if (o.json != NULL)
		cli_output_file("--json", o.json);
	if (o.csv != NULL)
		cli_output_file("--csv", o.csv);

	rep = calloc(1, sizeof(*rep));
	if (rep == NULL) {
		fprintf(stderr, "pushpoll: load: out of memory\n");
		return EXIT_MEASURED_FAILURE;
	}
	rep->opts = &o;
	sec = &rep->sec[rep->nsec++];
	sec->key = mode == BENCH_CHURN ? "churn" : o.rate ? "echo_open"
							   : "echo";
	sec->mode = mode;
	sec->rate = o.rate;
	sec->duration_ns = o.duration_ns;
	sec->n = 1;
	sec->sum[0].engine = label;
	hist_init(&sec->hist[0]);
	signal(SIGPIPE, SIG_IGN);

	int err = bench__probe(host, port);
	if (err != 0)
		fprintf(stderr, "pushpoll: load: %s: %s\n", connect,
			err == -ECONNREFUSED ? "refused the connection"
			: err == -ETIMEDOUT ? "unreachable: no answer to a "
					      "connect"
			: strerror(-err));
	for (int r = 0; err == 0 && r < o.rounds; r++) {
		struct loadgen_opts lo = {
			.host = host, .port = port, .conns = o.conns,
			.depth = o.depth, .msg_size = o.msg_size,
			.rate = o.rate, .warmup_ns = o.warmup_ns,
			.duration_ns = o.duration_ns,
		};
		struct loadgen_result *res = malloc(sizeof(*res));
		int lrc;

		if (res == NULL)
			break;
		bench__progress(&o, mode == BENCH_CHURN ? "churn" : "echo",
				r + 1, label, r + 1, o.rounds);
		lrc = mode == BENCH_CHURN ? loadgen_churn(&lo, res)
					  : loadgen_echo(&lo, res);
		if (lrc != 0 || res->msgs == 0) {
			bench__load_problem(res, why, sizeof(why));
			bench__progress_done(&o);
			fprintf(stderr, "pushpoll: load: %s: %s\n", connect,
				why);
			free(res);
			break;
		}
		bench__load_figures(res, v[ok++]);
		hist_merge(&sec->hist[0], &res->latency);
		free(res);
	}
	bench__progress_done(&o);
	sec->rounds = o.rounds;
	sec->sum[0].rounds_ok = ok;
	for (int f = 0; f < BENCH_F_COUNT && ok > 0; f++) {
		double col[BENCH_MAX_ROUNDS];
		for (int r = 0; r < ok; r++)
			col[r] = v[r][f];
		bench__stats(col, ok, &sec->sum[0].med[f],
			     &sec->sum[0].min[f], &sec->sum[0].max[f]);
	}
	bench__print_section(stdout, rep, sec);
	fflush(stdout);
	rc = ok == o.rounds ? 0 : EXIT_MEASURED_FAILURE;
	if (o.json != NULL && bench__save_json(o.json, rep) < 0)
		rc = EXIT_MEASURED_FAILURE;
	if (o.csv != NULL && bench__save_csv(o.csv, rep) < 0)
		rc = EXIT_MEASURED_FAILURE;
	free(rep);
	return rc;
}
