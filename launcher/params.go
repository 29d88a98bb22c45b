package launcher

import (
	"time"

	"github.com/mpx-hpc/mpx/param"
)

// The launcher's own knobs. Like every parameter they can be given with
// --param (which the launcher applies to itself as well as passing it on
// to the ranks), MPX_PARAM_* or a tuning file. Their names start with
// launcher_, a scope of the param package: the ranks, which register none
// of them, leave those names to the launcher, which checks them.
var (
	killGrace = param.NewDuration("launcher_kill_grace", 300*time.Millisecond,
		"time between SIGTERM and SIGKILL when the launcher stops the ranks of a failed job")
	reportWait = param.NewDuration("launcher_report_wait", time.Second,
		"how long the launcher waits for the ranks' reports when --timeout expires")
	causeWait = param.NewDuration("launcher_cause_wait", 2*time.Second,
		"how long the launcher waits for the exit of a rank whose lost link made others fail, to name what happened to it (its signal, its panic) rather than the ranks that noticed")
)
