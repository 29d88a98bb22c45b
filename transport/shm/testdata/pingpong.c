/* OSU-style reference figures for the shm transport's benchmarks, measured
 * with the MPI this machine has (Debian's Open MPI, vader/sm BTL):
 * 8-byte ping-pong one-way latency, and streaming bandwidth in windows of
 * 64 messages of 1 MiB and 4 MiB, as osu_latency and osu_bw measure them.
 *
 *   mpicc -O2 -o pingpong pingpong.c
 *   mpirun --allow-run-as-root -np 2 --mca btl self,vader ./pingpong
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW 64

static double latency(int rank, int iters) {
	char buf[8] = {0};
	double t0 = 0;
	for (int i = -1000; i < iters; i++) {
		if (i == 0) {
			MPI_Barrier(MPI_COMM_WORLD);
			t0 = MPI_Wtime();
		}
		if (rank == 0) {
			MPI_Send(buf, 8, MPI_CHAR, 1, 1, MPI_COMM_WORLD);
			MPI_Recv(buf, 8, MPI_CHAR, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
		} else {
			MPI_Recv(buf, 8, MPI_CHAR, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
			MPI_Send(buf, 8, MPI_CHAR, 0, 1, MPI_COMM_WORLD);
		}
	}
	return (MPI_Wtime() - t0) / iters / 2 * 1e6;
}

static double bandwidth(int rank, size_t size, int iters) {
	char *buf = malloc(size);
	memset(buf, rank + 1, size);
	MPI_Request req[WINDOW];
	int ack = 0;
	double t0 = 0;
	for (int i = -2; i < iters; i++) {
		if (i == 0) {
			MPI_Barrier(MPI_COMM_WORLD);
			t0 = MPI_Wtime();
		}
		for (int w = 0; w < WINDOW; w++) {
			if (rank == 0)
				MPI_Isend(buf, (int)size, MPI_CHAR, 1, 2, MPI_COMM_WORLD, &req[w]);
			else
				MPI_Irecv(buf, (int)size, MPI_CHAR, 0, 2, MPI_COMM_WORLD, &req[w]);
		}
		MPI_Waitall(WINDOW, req, MPI_STATUSES_IGNORE);
		if (rank == 0)
			MPI_Recv(&ack, 1, MPI_INT, 1, 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
		else
			MPI_Send(&ack, 1, MPI_INT, 0, 3, MPI_COMM_WORLD);
	}
	double mbs = (double)size * WINDOW * iters / (MPI_Wtime() - t0) / 1e6;
	free(buf);
	return mbs;
}

int main(int argc, char **argv) {
	int rank, size;
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if (size != 2) {
		if (rank == 0)
			fprintf(stderr, "pingpong: run with exactly 2 ranks, not %d\n", size);
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	int iters = argc > 1 ? atoi(argv[1]) : 20000;
	double lat = latency(rank, iters);
	double bw1 = bandwidth(rank, 1 << 20, 20);
	double bw4 = bandwidth(rank, 4 << 20, 10);
	if (rank == 0)
		printf("latency_8B_us %.3f\nbandwidth_1MiB_MBps %.1f\nbandwidth_4MiB_MBps %.1f\n", lat, bw1, bw4);
	MPI_Finalize();
	return 0;
}
