package rdma

import (
	"errors"
	"strings"
)

func errorsIs(err, target error) bool { return errors.Is(err, target) }

// stripSentinel is err's text without the sentinel prefix the receiving
// side adds back.
func stripSentinel(err error) string {
	s := err.Error()
	for _, sentinel := range []error{ErrRange, ErrRegion, ErrAlign, ErrRemote} {
		if errors.Is(err, sentinel) {
			return strings.TrimPrefix(s, sentinel.Error()+": ")
		}
	}
	return s
}
