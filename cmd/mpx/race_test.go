//go:build race

package main

// raceFlag builds the mpx under test with the race detector when the tests
// themselves run with it, so that the launcher's goroutines are checked.
var raceFlag = []string{"-race"}
