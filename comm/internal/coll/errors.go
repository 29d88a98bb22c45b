package coll

import "fmt"

func errLen(what string, got, want int) error {
	return fmt.Errorf("%s is %d bytes, want %d (collective calls mismatched across ranks?)", what, got, want)
}

// checkV validates counts and displacements of a v-variant against a
// buffer of n bytes and a communicator of p ranks.
func checkV(op string, counts, displs []int, n, p int) error {
	if len(counts) != p || len(displs) != p {
		return fmt.Errorf("%s: %d counts and %d displacements for %d ranks", op, len(counts), len(displs), p)
	}
	for i := range counts {
		if counts[i] < 0 || displs[i] < 0 || displs[i]+counts[i] > n {
			return fmt.Errorf("%s: block %d (count %d at displacement %d) outside the %d-byte buffer", op, i, counts[i], displs[i], n)
		}
	}
	return nil
}
