package launcher

import (
	"errors"
	"fmt"
	"strings"
)

// The environment of an Azure Batch multi-instance task.
const (
	// EnvAzureHostList is "10.0.0.4,10.0.0.5": the task's nodes.
	EnvAzureHostList = "AZ_BATCH_HOST_LIST"
	// EnvAzureNodeList is the same nodes separated by ';'.
	EnvAzureNodeList = "AZ_BATCH_NODE_LIST"
	// EnvAzureIsMaster is "true" on the node that runs the application
	// command (the primary task).
	EnvAzureIsMaster = "AZ_BATCH_IS_CURRENT_NODE_MASTER"
	// EnvAzureSharedDir is a directory at the same path on every node of
	// the task, where common resource files are downloaded.
	EnvAzureSharedDir = "AZ_BATCH_TASK_SHARED_DIR"
)

func azureBatchAlloc(env AllocEnv) (*Allocation, bool, error) {
	src, sep := EnvAzureHostList, ","
	v := env.Getenv(src)
	if v == "" {
		src, sep = EnvAzureNodeList, ";"
		v = env.Getenv(src)
	}
	if v == "" {
		return nil, false, nil
	}
	if m := env.Getenv(EnvAzureIsMaster); m == "false" {
		return nil, true, &AllocError{Source: EnvAzureIsMaster, Err: errors.New("false: this node runs a subtask; run mpx run in the application command, which Batch runs on the primary node only")}
	}
	slots := max(env.NumCPU, 1)
	var hl hostList
	for _, name := range strings.Split(v, sep) {
		name = strings.TrimSpace(name)
		if err := checkHostName(name); err != nil {
			return nil, true, &AllocError{Source: src, Err: fmt.Errorf("%q: %v", v, err)}
		}
		hl.add(Host{Name: name, Slots: slots}, false)
	}
	a := &Allocation{Scheduler: "Azure Batch", Source: src + "=" + v, JobID: env.Getenv("AZ_BATCH_JOB_ID"), Hosts: hl.hosts,
		Notes: []string{fmt.Sprintf("slots per node: %d, the cores of this node (Batch gives no counts; a pool's nodes are alike)", slots)}}
	if d := env.Getenv(EnvAzureSharedDir); d != "" {
		a.Notes = append(a.Notes, "shared task directory: "+d)
	}
	return a, true, nil
}
