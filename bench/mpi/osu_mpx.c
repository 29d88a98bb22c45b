/*
 * osu_mpx.c: mpx's port of the OSU micro-benchmarks' methodology to plain
 * MPI, so that `mpx bench compare` measures an installed MPI exactly as
 * package bench measures mpx: same tests, same sizes, same iteration
 * schedule (given on the command line by the Go side), same warm-up,
 * buffers touched before timing, and the same table layout (osu_util.h's
 * 10-column size, 18-column figures, 12-column iteration counts).
 *
 * usage: osu_mpx TEST -m MIN:MAX -i ITERS:ITERS_LARGE -x WARMUP:WARMUP_LARGE
 *                     -L LARGE_SIZE -W WINDOW
 * TEST: latency bw bibw mbw_mr allreduce reduce bcast allgather alltoall
 *       gather scatter barrier put_latency get_latency put_bw get_bw
 *       acc_latency fop_latency cas_latency
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIZE_WIDTH 10
#define FIELD_WIDTH 18
#define ITERS_WIDTH 12
#define MAX_WINDOW 1024

enum family { LATENCY, BANDWIDTH, COLLECTIVE };

struct test {
	const char *name, *title;
	enum family family;
	int reduction, even, rate, rma;
};

static const struct test tests[] = {
	{"latency", "Latency Test", LATENCY, 0, 0, 0, 0},
	{"bw", "Bandwidth Test", BANDWIDTH, 0, 0, 0, 0},
	{"bibw", "Bi-Directional Bandwidth Test", BANDWIDTH, 0, 0, 0, 0},
	{"mbw_mr", "Multiple Bandwidth / Message Rate Test", BANDWIDTH, 0, 1, 1, 0},
	{"allreduce", "Allreduce Latency Test", COLLECTIVE, 1, 0, 0, 0},
	{"reduce", "Reduce Latency Test", COLLECTIVE, 1, 0, 0, 0},
	{"bcast", "Broadcast Latency Test", COLLECTIVE, 0, 0, 0, 0},
	{"allgather", "Allgather Latency Test", COLLECTIVE, 0, 0, 0, 0},
	{"alltoall", "All-to-All Personalized Exchange Latency Test", COLLECTIVE, 0, 0, 0, 0},
	{"gather", "Gather Latency Test", COLLECTIVE, 0, 0, 0, 0},
	{"scatter", "Scatter Latency Test", COLLECTIVE, 0, 0, 0, 0},
	{"barrier", "Barrier Latency Test", COLLECTIVE, 0, 0, 0, 0},
	{"put_latency", "MPI_Put Latency Test", LATENCY, 0, 0, 0, 1},
	{"get_latency", "MPI_Get Latency Test", LATENCY, 0, 0, 0, 1},
	{"put_bw", "MPI_Put Bandwidth Test", BANDWIDTH, 0, 0, 0, 1},
	{"get_bw", "MPI_Get Bandwidth Test", BANDWIDTH, 0, 0, 0, 1},
	{"acc_latency", "MPI_Accumulate latency Test", LATENCY, 0, 0, 0, 1},
	{"fop_latency", "MPI_Fetch_and_op latency Test", LATENCY, 0, 0, 0, 1},
	{"cas_latency", "MPI_Compare_and_swap latency Test", LATENCY, 0, 0, 0, 1},
};

struct options {
	long min, max, large;
	int iters, iters_large, warmup, warmup_large, window;
};

static int rank, nranks;
static char *sbuf, *rbuf;

static void die(const char *msg)
{
	if (rank == 0)
		fprintf(stderr, "osu_mpx: %s\n", msg);
	MPI_Abort(MPI_COMM_WORLD, 2);
	exit(2);
}

static int pair(const char *s, long *a, long *b)
{
	char *end;
	*a = strtol(s, &end, 10);
	if (end == s || *a < 0)
		return -1;
	if (*end == '\0') {
		*b = *a;
		return 0;
	}
	if (*end != ':')
		return -1;
	s = end + 1;
	*b = strtol(s, &end, 10);
	if (end == s || *end != '\0' || *b < 0)
		return -1;
	return 0;
}

static void schedule(const struct options *o, long size, int *iters, int *warmup)
{
	if (size >= o->large) {
		*iters = o->iters_large;
		*warmup = o->warmup_large;
	} else {
		*iters = o->iters;
		*warmup = o->warmup;
	}
}

/* Touch the buffers as OSU's set_buffer does, so that first-touch page
 * faults fall outside the timed loop. */
static void touch(long bytes)
{
	memset(sbuf, 'a', bytes);
	memset(rbuf, 'b', bytes);
}

static double latency(const struct options *o, long size)
{
	int iters, warmup, i;
	double t0 = 0;
	schedule(o, size, &iters, &warmup);
	touch(size);
	MPI_Barrier(MPI_COMM_WORLD);
	if (rank > 1)
		return 0;
	for (i = 0; i < iters + warmup; i++) {
		if (i == warmup)
			t0 = MPI_Wtime();
		if (rank == 0) {
			MPI_Send(sbuf, size, MPI_CHAR, 1, 1, MPI_COMM_WORLD);
			MPI_Recv(rbuf, size, MPI_CHAR, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
		} else {
			MPI_Recv(rbuf, size, MPI_CHAR, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
			MPI_Send(sbuf, size, MPI_CHAR, 0, 1, MPI_COMM_WORLD);
		}
	}
	return (MPI_Wtime() - t0) * 1e6 / (2.0 * iters);
}

/* One sender (rank me) and one receiver (peer) exchange windows; the
 * receiver acknowledges each window with 4 bytes. Returns the sender's
 * elapsed time. bidir: both post receives and sends, no ack. */
static double windows(const struct options *o, long size, int me_sends, int peer, int bidir)
{
	MPI_Request reqs[2 * MAX_WINDOW];
	int iters, warmup, i, j, n;
	double t0 = 0;
	schedule(o, size, &iters, &warmup);
	for (i = 0; i < iters + warmup; i++) {
		if (i == warmup)
			t0 = MPI_Wtime();
		n = 0;
		if (bidir) {
			for (j = 0; j < o->window; j++)
				MPI_Irecv(rbuf, size, MPI_CHAR, peer, 10, MPI_COMM_WORLD, &reqs[n++]);
			for (j = 0; j < o->window; j++)
				MPI_Isend(sbuf, size, MPI_CHAR, peer, 10, MPI_COMM_WORLD, &reqs[n++]);
			MPI_Waitall(n, reqs, MPI_STATUSES_IGNORE);
		} else if (me_sends) {
			for (j = 0; j < o->window; j++)
				MPI_Isend(sbuf, size, MPI_CHAR, peer, 100, MPI_COMM_WORLD, &reqs[n++]);
			MPI_Waitall(n, reqs, MPI_STATUSES_IGNORE);
			MPI_Recv(rbuf, 4, MPI_CHAR, peer, 101, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
		} else {
			for (j = 0; j < o->window; j++)
				MPI_Irecv(rbuf, size, MPI_CHAR, peer, 100, MPI_COMM_WORLD, &reqs[n++]);
			MPI_Waitall(n, reqs, MPI_STATUSES_IGNORE);
			MPI_Send(sbuf, 4, MPI_CHAR, peer, 101, MPI_COMM_WORLD);
		}
	}
	return MPI_Wtime() - t0;
}

static void bandwidth(const struct test *t, const struct options *o, long size, double *mbs, double *rate)
{
	int iters, warmup, pairs = nranks / 2, sender, peer;
	double elapsed = 0, maxt = 0, msgs;
	schedule(o, size, &iters, &warmup);
	touch(size < 4 ? 4 : size);
	*mbs = *rate = 0;
	if (strcmp(t->name, "mbw_mr") == 0) {
		sender = rank < pairs;
		peer = sender ? rank + pairs : rank - pairs;
		MPI_Barrier(MPI_COMM_WORLD);
		elapsed = windows(o, size, sender, peer, 0);
		if (!sender)
			elapsed = 0;
		/* The slowest sender bounds the aggregate. */
		MPI_Reduce(&elapsed, &maxt, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
		msgs = (double)pairs * iters * o->window;
		if (rank == 0 && maxt > 0) {
			*rate = msgs / maxt;
			*mbs = *rate * size / 1e6;
		}
		return;
	}
	MPI_Barrier(MPI_COMM_WORLD);
	if (rank < 2)
		elapsed = windows(o, size, rank == 0, 1 - rank, strcmp(t->name, "bibw") == 0);
	msgs = (double)iters * o->window * (strcmp(t->name, "bibw") == 0 ? 2 : 1);
	if (rank == 0 && elapsed > 0)
		*mbs = msgs * size / 1e6 / elapsed;
}

static void collective(const struct test *t, const struct options *o, long size,
		       double *avg, double *min, double *max, int *iters_out)
{
	int iters, warmup, i, count = (int)(size / 4);
	double timer = 0, t0, lat, sum = 0;
	schedule(o, size, &iters, &warmup);
	touch(strcmp(t->name, "allgather") == 0 || strcmp(t->name, "alltoall") == 0 ||
			      strcmp(t->name, "gather") == 0 || strcmp(t->name, "scatter") == 0
		      ? size * nranks
		      : size);
	MPI_Barrier(MPI_COMM_WORLD);
	for (i = 0; i < iters + warmup; i++) {
		t0 = MPI_Wtime();
		if (strcmp(t->name, "allreduce") == 0)
			MPI_Allreduce(sbuf, rbuf, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
		else if (strcmp(t->name, "reduce") == 0)
			MPI_Reduce(sbuf, rbuf, count, MPI_FLOAT, MPI_SUM, 0, MPI_COMM_WORLD);
		else if (strcmp(t->name, "bcast") == 0)
			MPI_Bcast(sbuf, size, MPI_CHAR, 0, MPI_COMM_WORLD);
		else if (strcmp(t->name, "allgather") == 0)
			MPI_Allgather(sbuf, size, MPI_CHAR, rbuf, size, MPI_CHAR, MPI_COMM_WORLD);
		else if (strcmp(t->name, "alltoall") == 0)
			MPI_Alltoall(sbuf, size, MPI_CHAR, rbuf, size, MPI_CHAR, MPI_COMM_WORLD);
		else if (strcmp(t->name, "gather") == 0)
			MPI_Gather(sbuf, size, MPI_CHAR, rbuf, size, MPI_CHAR, 0, MPI_COMM_WORLD);
		else if (strcmp(t->name, "scatter") == 0)
			MPI_Scatter(sbuf, size, MPI_CHAR, rbuf, size, MPI_CHAR, 0, MPI_COMM_WORLD);
		else
			MPI_Barrier(MPI_COMM_WORLD);
		if (i >= warmup)
			timer += MPI_Wtime() - t0;
		/* OSU separates iterations so that one rank's early exit from a
		 * rooted collective does not pipeline into the next. */
		MPI_Barrier(MPI_COMM_WORLD);
	}
	lat = timer * 1e6 / iters;
	MPI_Reduce(&lat, min, 1, MPI_DOUBLE, MPI_MIN, 0, MPI_COMM_WORLD);
	MPI_Reduce(&lat, max, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
	MPI_Reduce(&lat, &sum, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
	*avg = sum / nranks;
	*iters_out = iters;
}

/* The one-sided tests, as package bench's onesided.go: rank 0 locks rank
 * 1's window (shared) and issues one operation, or a window of them, per
 * MPI_Win_flush; rank 1 waits in the barrier. Returns microseconds per
 * flushed operation (latency) or MB/s (bandwidth). */
static double rma(const struct test *t, const struct options *o, long size)
{
	MPI_Win win;
	int iters, warmup, i, j, per = t->family == BANDWIDTH ? o->window : 1;
	int fixed = strcmp(t->name, "fop_latency") == 0 || strcmp(t->name, "cas_latency") == 0;
	long long one = 1, zero = 0, res;
	double t0 = 0, elapsed = 0;
	if (fixed && size != 8)
		die("fop_latency and cas_latency move one 8-byte integer: -m 8:8 only");
	schedule(o, size, &iters, &warmup);
	touch(fixed ? 8 : size);
	MPI_Win_create(rbuf, fixed ? 8 : size, 1, MPI_INFO_NULL, MPI_COMM_WORLD, &win);
	if (rank == 0) {
		MPI_Win_lock(MPI_LOCK_SHARED, 1, 0, win);
		for (i = 0; i < iters + warmup; i++) {
			if (i == warmup)
				t0 = MPI_Wtime();
			for (j = 0; j < per; j++) {
				if (strncmp(t->name, "put", 3) == 0)
					MPI_Put(sbuf, size, MPI_UNSIGNED_CHAR, 1, 0, size, MPI_UNSIGNED_CHAR, win);
				else if (strncmp(t->name, "get", 3) == 0)
					MPI_Get(sbuf, size, MPI_UNSIGNED_CHAR, 1, 0, size, MPI_UNSIGNED_CHAR, win);
				else if (strcmp(t->name, "acc_latency") == 0)
					MPI_Accumulate(sbuf, size, MPI_UNSIGNED_CHAR, 1, 0, size, MPI_UNSIGNED_CHAR, MPI_SUM, win);
				else if (strcmp(t->name, "fop_latency") == 0)
					MPI_Fetch_and_op(&one, &res, MPI_LONG_LONG, 1, 0, MPI_SUM, win);
				else
					MPI_Compare_and_swap(&one, &zero, &res, MPI_LONG_LONG, 1, 0, win);
			}
			MPI_Win_flush(1, win);
		}
		elapsed = MPI_Wtime() - t0;
		MPI_Win_unlock(1, win);
	}
	MPI_Barrier(MPI_COMM_WORLD);
	MPI_Win_free(&win);
	if (t->family == BANDWIDTH)
		return elapsed > 0 ? (double)iters * per * size / 1e6 / elapsed : 0;
	return elapsed * 1e6 / iters;
}

static void header(const struct test *t)
{
	char lib[MPI_MAX_LIBRARY_VERSION_STRING], *nl;
	int len;
	MPI_Get_library_version(lib, &len);
	if ((nl = strchr(lib, '\n')) != NULL)
		*nl = '\0';
	if ((nl = strchr(lib, ',')) != NULL)
		*nl = '\0';
	printf("# OSU-style MPI %s\n# library: %s\n# ranks: %d\n", t->title, lib, nranks);
	if (strcmp(t->name, "barrier") == 0)
		printf("# Avg Latency(us)%*s%*s%*s\n", FIELD_WIDTH, "Min Latency(us)",
		       FIELD_WIDTH, "Max Latency(us)", ITERS_WIDTH, "Iterations");
	else if (t->family == LATENCY)
		printf("%-*s%*s\n", SIZE_WIDTH, "# Size", FIELD_WIDTH, "Latency (us)");
	else if (t->rate)
		printf("%-*s%*s%*s\n", SIZE_WIDTH, "# Size", FIELD_WIDTH, "MB/s", FIELD_WIDTH, "Messages/s");
	else if (t->family == BANDWIDTH)
		printf("%-*s%*s\n", SIZE_WIDTH, "# Size", FIELD_WIDTH, "Bandwidth (MB/s)");
	else
		printf("%-*s%*s%*s%*s%*s\n", SIZE_WIDTH, "# Size", FIELD_WIDTH, "Avg Latency(us)",
		       FIELD_WIDTH, "Min Latency(us)", FIELD_WIDTH, "Max Latency(us)", ITERS_WIDTH, "Iterations");
	fflush(stdout);
}

static void run_size(const struct test *t, const struct options *o, long size)
{
	double a = 0, mn = 0, mx = 0;
	int iters = 0;
	switch (t->family) {
	case LATENCY:
		a = t->rma ? rma(t, o, size) : latency(o, size);
		if (rank == 0)
			printf("%-*ld%*.2f\n", SIZE_WIDTH, size, FIELD_WIDTH, a);
		break;
	case BANDWIDTH:
		if (t->rma)
			a = rma(t, o, size);
		else
			bandwidth(t, o, size, &a, &mx);
		if (rank == 0 && t->rate)
			printf("%-*ld%*.2f%*.2f\n", SIZE_WIDTH, size, FIELD_WIDTH, a, FIELD_WIDTH, mx);
		else if (rank == 0)
			printf("%-*ld%*.2f\n", SIZE_WIDTH, size, FIELD_WIDTH, a);
		break;
	case COLLECTIVE:
		collective(t, o, size, &a, &mn, &mx, &iters);
		if (rank == 0 && strcmp(t->name, "barrier") == 0)
			printf("%*.2f%*.2f%*.2f%*d\n", FIELD_WIDTH - 1, a, FIELD_WIDTH, mn, FIELD_WIDTH, mx, ITERS_WIDTH, iters);
		else if (rank == 0)
			printf("%-*ld%*.2f%*.2f%*.2f%*d\n", SIZE_WIDTH, size, FIELD_WIDTH, a, FIELD_WIDTH, mn,
			       FIELD_WIDTH, mx, ITERS_WIDTH, iters);
		break;
	}
	fflush(stdout);
}

int main(int argc, char **argv)
{
	const struct test *t = NULL;
	struct options o = {0, 4 << 20, 8192, 1000, 100, 100, 10, 64};
	long a, b, size, p;
	size_t i;
	int k;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &nranks);
	if (argc < 2)
		die("usage: osu_mpx TEST -m MIN:MAX -i N:L -x W:WL -L LARGE -W WINDOW");
	for (i = 0; i < sizeof tests / sizeof tests[0]; i++)
		if (strcmp(argv[1], tests[i].name) == 0)
			t = &tests[i];
	if (t == NULL)
		die("unknown test");
	for (k = 2; k + 1 < argc; k += 2) {
		const char *f = argv[k], *v = argv[k + 1];
		if (strcmp(f, "-m") == 0 && pair(v, &a, &b) == 0 && a <= b) {
			o.min = a;
			o.max = b;
		} else if (strcmp(f, "-i") == 0 && pair(v, &a, &b) == 0 && a > 0 && b > 0) {
			o.iters = (int)a;
			o.iters_large = (int)b;
		} else if (strcmp(f, "-x") == 0 && pair(v, &a, &b) == 0) {
			o.warmup = (int)a;
			o.warmup_large = (int)b;
		} else if (strcmp(f, "-L") == 0 && pair(v, &a, &b) == 0 && a == b) {
			o.large = a;
		} else if (strcmp(f, "-W") == 0 && pair(v, &a, &b) == 0 && a == b && a >= 1 && a <= MAX_WINDOW) {
			o.window = (int)a;
		} else {
			die("bad option or value");
		}
	}
	if (k != argc)
		die("option without a value");
	if (nranks < 2)
		die("needs at least 2 ranks");
	if (t->even && nranks % 2 != 0)
		die("needs an even number of ranks");
	if (strcmp(t->name, "barrier") == 0)
		o.min = o.max = 0;
	/* Room for the largest message times the ranks (gather, alltoall), and
	 * the 4-byte acknowledgement. */
	sbuf = malloc((size_t)(o.max < 4 ? 4 : o.max) * nranks);
	rbuf = malloc((size_t)(o.max < 4 ? 4 : o.max) * nranks);
	if (sbuf == NULL || rbuf == NULL)
		die("out of memory");
	if (rank == 0)
		header(t);
	/* The sizes: min itself unless a power of two, then the powers of two
	 * from min to max, as package bench's Options.Sizes. */
	for (p = 1; p < o.min; p <<= 1)
		;
	if (o.min != p)
		run_size(t, &o, o.min);
	for (size = p; size <= o.max; size <<= 1)
		run_size(t, &o, size);
	free(sbuf);
	free(rbuf);
	MPI_Finalize();
	return 0;
}
