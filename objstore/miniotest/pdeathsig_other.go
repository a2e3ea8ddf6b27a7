//go:build !linux

package miniotest

import "syscall"

// sysProcAttr has no parent-death signal outside Linux; a crashed test binary
// can leave its MinIO running there.
func sysProcAttr() *syscall.SysProcAttr { return nil }
