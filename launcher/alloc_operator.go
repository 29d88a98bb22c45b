package launcher

import (
	"bytes"
	"errors"
	"io/fs"
)

// The Kubeflow MPI Operator mounts a hostfile in an MPIJob's launcher pod
// and names it to the MPI it expects, by one of these variables; the file
// is in Open MPI's form ("host slots=N") or Hydra's ("host:N").
var operatorHostfileVars = []string{"OMPI_MCA_orte_default_hostfile", "I_MPI_HYDRA_HOST_FILE", "HYDRA_HOST_FILE"}

func operatorAlloc(env AllocEnv) (*Allocation, bool, error) {
	path, src := "", ""
	for _, v := range operatorHostfileVars {
		if p := env.Getenv(v); p != "" {
			path, src = p, v+"="+p
			break
		}
	}
	named := path != ""
	if !named {
		path, src = env.OperatorHostfile, env.OperatorHostfile
	}
	b, err := env.ReadFile(path)
	if err != nil {
		if !named && errors.Is(err, fs.ErrNotExist) {
			return nil, false, nil // not in an MPIJob
		}
		return nil, true, &AllocError{Source: src, Err: err}
	}
	hosts, err := ParseHostfile(src, bytes.NewReader(b))
	if err != nil {
		return nil, true, err
	}
	return &Allocation{Scheduler: "MPI Operator", Source: src, Hosts: hosts}, true, nil
}
