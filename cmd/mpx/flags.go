package main

import (
	"errors"
	"regexp"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"
)

// plainSeconds is a count of seconds with no unit, as Open MPI's --timeout
// takes it ("10", "2.5").
var plainSeconds = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// secondsOrDuration is a flag value that takes plain seconds or a Go
// duration ("90s", "1m30s"). Its String is a Go duration, so that
// c.Duration reads it as it reads a DurationFlag.
type secondsOrDuration time.Duration

func (d *secondsOrDuration) Set(s string) error {
	if plainSeconds.MatchString(s) {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f > float64(1<<62)/float64(time.Second) {
			return errors.New("out of range")
		}
		*d = secondsOrDuration(f * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("parse error")
	}
	*d = secondsOrDuration(v)
	return nil
}

func (d *secondsOrDuration) String() string { return time.Duration(*d).String() }

func (d *secondsOrDuration) wants() string {
	return "seconds or a duration such as 90s, 1m30s or 2h"
}

// timeoutFlag is --timeout of run and bench.
func timeoutFlag(usage string) cli.Flag {
	return &cli.GenericFlag{Name: "timeout", Value: new(secondsOrDuration), Usage: usage, DefaultText: "none"}
}
